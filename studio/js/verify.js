// Verify: the largest face of each of two photos -> same person or not, with the confidence.
import { ApiError, FACE, call, detectFaces } from "./api.js";
import { RequestLog, drawFaces, messages, picker, round, runs, showPhoto } from "./ui.js";

// Detect the photo in its column and draw its faces; the largest (first) is the one compared.
async function largestFace(log, { file, src }, slot, which) {
  const [faces, photo] = await Promise.all([detectFaces(log, file), showPhoto(slot, src, `The ${which} photo`)]);
  drawFaces(photo, faces.slice(0, 1), () => "compared");
  if (!faces.length) throw new ApiError(0, "", `No face was found in the ${which} photo.`);
  return faces[0];
}

export function setupVerify(panel) {
  const log = new RequestLog(panel);
  const say = messages(panel);
  const verdict = panel.querySelector(".verdict");
  const columns = [...panel.querySelectorAll(".pair > div")];
  const files = [null, null];
  const begin = runs();

  async function run() {
    const isLatest = begin();
    const chosen = [...files];
    log.reset();
    verdict.hidden = true;
    say.busy("Comparing…");
    try {
      const names = ["first", "second"];
      const faces = await Promise.all(columns.map((column, i) =>
        chosen[i] && largestFace(log, chosen[i], column.querySelector(".photo-slot"), names[i])));
      if (!isLatest()) return;
      if (!chosen[0] || !chosen[1]) {
        say.done(`Now choose the ${chosen[0] ? "second" : "first"} photo.`);
        return;
      }
      const result = await call(log, { method: "POST", path: `${FACE}/verify`, json: { faceId1: faces[0].faceId, faceId2: faces[1].faceId } });
      if (!isLatest()) return;
      verdict.textContent = result.isIdentical
        ? `The two faces belong to the same person · confidence ${round(result.confidence)}`
        : `The two faces belong to different people · confidence ${round(result.confidence)}`;
      verdict.classList.toggle("same", result.isIdentical);
      verdict.hidden = false;
      say.done();
    } catch (err) {
      if (isLatest()) say.fail(err);
    }
  }

  columns.forEach((column, i) => picker(column.querySelector(".picker"), ([file]) => {
    if (files[i]) URL.revokeObjectURL(files[i].src);
    files[i] = { file, src: URL.createObjectURL(file) };
    run();
  }));
}
