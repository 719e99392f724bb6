// Group: every face of a set of photos, sorted into groups of the same person.
import { ApiError, FACE, call } from "./api.js";
import { RequestLog, el, faceThumb, facesOfPhotos, messages, picker } from "./ui.js";

function row(title, faces) {
  return el("section", { class: "face-group" }, el("h3", {}, title),
    el("div", { class: "thumb-row" }, ...faces.map((face) => faceThumb(face.photo, face.faceRectangle, face.photo.name))));
}

export function setupGroup(panel) {
  const log = new RequestLog(panel);
  const say = messages(panel);
  const result = panel.querySelector(".result");

  picker(panel.querySelector(".picker"), async (files) => {
    log.reset();
    result.replaceChildren();
    say.busy("Grouping…");
    try {
      const faces = await facesOfPhotos(log, files);
      if (faces.length < 2) throw new ApiError(0, "", `Grouping needs at least two faces; ${faces.length} found.`);
      const grouped = await call(log, { method: "POST", path: `${FACE}/group`, json: { faceIds: faces.map((face) => face.faceId) } });
      const byId = new Map(faces.map((face) => [face.faceId, face]));
      const pick = (ids) => ids.map((id) => byId.get(id));
      result.replaceChildren(
        ...grouped.groups.map((ids, i) => row(`Group ${i + 1} · ${ids.length} faces`, pick(ids))),
        ...(grouped.messyGroup?.length ? [row(`Not grouped · ${grouped.messyGroup.length}`, pick(grouped.messyGroup))] : []));
      say.done(`${faces.length} faces in ${grouped.groups.length} group${grouped.groups.length === 1 ? "" : "s"}.`);
    } catch (err) {
      say.fail(err);
    }
  });
}
