// Detect: a photo (file, drop or URL) -> rectangles, landmarks and attributes, with the models
// and attributes this deployment offers (GET api-options.json, served beside the page).
import { FACE, call } from "./api.js";
import { RequestLog, colour, drawFaces, el, messages, picker, round, runs, showPhoto } from "./ui.js";

// The recommended models (Azure's own quickstarts use them) when the deployment offers them.
const PREFERRED = { detection: "detection_03", recognition: "recognition_04" };

async function loadOptions(panel) {
  const response = await fetch("api-options.json");
  const options = await response.json();
  fillSelect(panel.querySelector("#detect-detection-model"), options.detectionModels, PREFERRED.detection);
  fillSelect(panel.querySelector("#detect-recognition-model"), options.recognitionModels, PREFERRED.recognition);
  panel.querySelector("#detect-landmarks").checked = options.landmarks;
  const model = panel.querySelector("#detect-detection-model");
  const showAttributes = () => panel.querySelector("#detect-attributes").replaceChildren(
    ...(options.attributes[model.value] || []).map((name) =>
      el("label", { class: "check" }, el("input", { type: "checkbox", value: name, checked: true, "data-testid": `attribute-${name}` }), ` ${name}`)));
  // Each detection model serves its own attributes (detection_02 none): offer only those.
  model.addEventListener("change", showAttributes);
  showAttributes();
}

function fillSelect(select, names, preferred) {
  select.replaceChildren(...names.map((name) => el("option", { value: name }, name)));
  select.value = names.includes(preferred) ? preferred : names[0];
}

function query(panel) {
  const attributes = [...panel.querySelectorAll("#detect-attributes input:checked")].map((box) => box.value);
  const params = {
    detectionModel: panel.querySelector("#detect-detection-model").value,
    recognitionModel: panel.querySelector("#detect-recognition-model").value,
    returnFaceId: "true",
    returnFaceLandmarks: String(panel.querySelector("#detect-landmarks").checked),
  };
  if (attributes.length) params.returnFaceAttributes = attributes.join(",");
  return params;
}

// "blur: low (0.12)", "headPose: pitch 1.2, roll -3, yaw 10" ...
function describe(value) {
  if (value === null || typeof value !== "object") return String(value);
  if (Array.isArray(value)) return value.length ? value.map(describe).join("; ") : "none";
  const level = Object.entries(value).find(([name]) => name.endsWith("Level") || name === "type");
  if (level && "value" in value) return `${level[1]} (${round(value.value)})`;
  return Object.entries(value).map(([name, v]) => `${name} ${typeof v === "number" ? round(v, 1) : describe(v)}`).join(", ");
}

function faceCard(face, index) {
  const r = face.faceRectangle;
  const heading = el("h3", {}, `Face ${index + 1}`);
  heading.style.borderColor = colour(index);
  const rows = [
    ["rectangle", `left ${r.left}, top ${r.top}, ${r.width}×${r.height}`],
    ["faceId", face.faceId || "—"],
    ...(face.faceLandmarks ? [["landmarks", `${Object.keys(face.faceLandmarks).length} points`]] : []),
    ...Object.entries(face.faceAttributes || {}).map(([name, value]) => [name, describe(value)]),
  ];
  return el("section", { class: "face-card", "data-testid": "face-attributes" },
    heading,
    el("dl", {}, ...rows.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)])));
}

export function setupDetect(panel) {
  const log = new RequestLog(panel);
  const say = messages(panel);
  const slot = panel.querySelector("#detect-photo");
  const list = panel.querySelector("#detect-faces");
  let current = null;   // {image: File} or {url}
  let objectUrl = null;
  const begin = runs();

  async function run() {
    if (!current) return;
    const isLatest = begin();
    log.reset();
    list.replaceChildren();
    say.busy("Detecting…");
    try {
      const body = current.image ? { image: current.image } : { json: { url: current.url } };
      const [faces, photo] = await Promise.all([
        call(log, { method: "POST", path: `${FACE}/detect`, query: query(panel), ...body }),
        showPhoto(slot, objectUrl || current.url, "The photo").catch(() => null),
      ]);
      if (!isLatest()) return;
      if (photo) drawFaces(photo, faces);
      list.replaceChildren(...faces.map(faceCard));
      say.done(`${faces.length} face${faces.length === 1 ? "" : "s"} found.`);
    } catch (err) {
      if (isLatest()) say.fail(err);
    }
  }

  picker(panel.querySelector("#detect-picker"), ([file]) => {
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(file);
    current = { image: file };
    run();
  });
  panel.querySelector(".url-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const url = event.target.querySelector("input").value.trim();
    if (!url) return;
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    current = { url };
    run();
  });
  panel.querySelector(".options").addEventListener("change", run);
  loadOptions(panel).catch((err) => say.fail(err));
}
