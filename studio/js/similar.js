// Find similar: the largest face of one photo against every face of a set of photos.
import { ApiError, FACE, call } from "./api.js";
import { RequestLog, el, faceThumb, facesOfPhotos, messages, picker, round, runs } from "./ui.js";

export function setupSimilar(panel) {
  const log = new RequestLog(panel);
  const say = messages(panel);
  const result = panel.querySelector(".result");
  const [queryPicker, setPicker] = panel.querySelectorAll(".picker");
  let query = null;
  let photos = [];
  const begin = runs();

  async function run() {
    const isLatest = begin();
    if (!query || !photos.length) {
      say.done(query ? "Now choose the photos to search." : "Now choose the face to look for.");
      return;
    }
    log.reset();
    result.replaceChildren();
    say.busy("Searching…");
    try {
      const [[wanted], candidates] = await Promise.all([facesOfPhotos(log, [query]), facesOfPhotos(log, photos)]);
      if (!wanted) throw new ApiError(0, "", "No face was found in the photo to look for.");
      if (!candidates.length) throw new ApiError(0, "", "No face was found in the photos to search.");
      const found = await call(log, { method: "POST", path: `${FACE}/findsimilars`, json: {
        faceId: wanted.faceId, faceIds: candidates.map((face) => face.faceId),
        maxNumOfCandidatesReturned: 20, mode: panel.querySelector("#similar-mode").value,
      } });
      if (!isLatest()) return;
      const byId = new Map(candidates.map((face) => [face.faceId, face]));
      result.replaceChildren(
        el("div", { class: "thumb-row" }, faceThumb(wanted.photo, wanted.faceRectangle, "looked for")),
        el("h3", {}, `${found.length} similar face${found.length === 1 ? "" : "s"} among ${candidates.length}`),
        el("div", { class: "thumb-row" }, ...found.map((match) => {
          const face = byId.get(match.faceId);
          return faceThumb(face.photo, face.faceRectangle, `${round(match.confidence)} · ${face.photo.name}`);
        })));
      say.done();
    } catch (err) {
      if (isLatest()) say.fail(err);
    }
  }

  picker(queryPicker, ([file]) => { query = file; run(); });
  picker(setPicker, (files) => { photos = files; run(); });
  panel.querySelector("#similar-mode").addEventListener("change", run);
}
