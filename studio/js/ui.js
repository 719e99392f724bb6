// Page building blocks shared by the tabs: elements, status and errors, the request log,
// photo pickers, photos with faces drawn over them, and face thumbnails.
import { detectFaces } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export function svgEl(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  setAttributes(node, attrs);
  node.append(...children);
  return node;
}

function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === true) node.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, value);
  }
}

// For actions that may be started again before they finish (a new photo, another option):
// `const isLatest = begin()` at the start; only the latest run shows its outcome.
export function runs() {
  let latest = 0;
  return () => {
    const mine = ++latest;
    return () => mine === latest;
  };
}

export const round = (value, digits = 2) => Number(value).toFixed(digits);

// The status line and the error line of a panel (the first of each in `scope`).
export function messages(scope) {
  const status = scope.querySelector(".status");
  const error = scope.querySelector(".error");
  return {
    busy(text) {
      status.textContent = text;
      error.hidden = true;
    },
    done(text = "") {
      status.textContent = text;
    },
    fail(err) {
      status.textContent = "";
      error.textContent = err.status ? `${err.message} (HTTP ${err.status}${err.code ? ", " + err.code : ""})` : err.message;
      error.hidden = false;
    },
  };
}

// The "REST requests" list of a panel: one entry per call of the latest action.
export class RequestLog {
  constructor(scope) {
    this.list = scope.querySelector(".requests ol");
  }

  reset() {
    this.list.replaceChildren();
  }

  add(method, path, curl) {
    const outcome = el("span", { class: "outcome" }, "…");
    const code = el("code", {}, curl);
    const copy = el("button", { type: "button", class: "copy", "aria-label": `Copy the curl command of ${method} ${path}` }, "Copy");
    copy.addEventListener("click", () => copyText(code, copy));
    this.list.append(el("li", {},
      el("div", { class: "request-line" }, el("strong", {}, `${method} ${path}`), " ", outcome, " ", copy),
      el("pre", {}, code)));
    return { done: (text) => { outcome.textContent = `→ ${text}`; } };
  }
}

async function copyText(code, button) {
  try {
    await navigator.clipboard.writeText(code.textContent);
    button.textContent = "Copied";
  } catch {
    // No clipboard access (e.g. plain http on another host): select it for Ctrl+C instead.
    getSelection().selectAllChildren(code);
    button.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
}

// File input + drag-and-drop on a `.picker`: `onFiles(File[])` when files are chosen.
export function picker(element, onFiles) {
  const input = element.querySelector("input[type=file]");
  input.addEventListener("change", () => {
    if (input.files.length) onFiles([...input.files]);
  });
  element.addEventListener("dragover", (event) => {
    event.preventDefault();
    element.classList.add("dragging");
  });
  element.addEventListener("dragleave", () => element.classList.remove("dragging"));
  element.addEventListener("drop", (event) => {
    event.preventDefault();
    element.classList.remove("dragging");
    const files = [...event.dataTransfer.files].filter((file) => file.type.startsWith("image/"));
    if (!files.length) return;
    input.files = event.dataTransfer.files;
    onFiles(input.multiple ? files : files.slice(0, 1));
  });
  return input;
}

export function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = el("img", { src, alt: "" });
    img.addEventListener("load", () => resolve(img), { once: true });
    img.addEventListener("error", () => reject(new Error("The browser cannot show this photo.")), { once: true });
  });
}

// A photo in `slot` with an SVG layer in the image's own pixel coordinates, so that face
// rectangles and landmarks are drawn exactly where the API puts them.
export async function showPhoto(slot, src, alt) {
  slot.replaceChildren();
  const img = await loadImage(src);
  img.alt = alt;
  const width = img.naturalWidth;
  const height = img.naturalHeight;
  const layer = svgEl("svg", { class: "overlay", viewBox: `0 0 ${width} ${height}`, "aria-hidden": "true" });
  slot.append(el("div", { class: "photo" }, img, layer));
  return { src, width, height, layer };
}

const COLOURS = ["#ffd400", "#00e0ff", "#ff5fd2", "#7cff4f", "#ff8a00", "#b18cff"];
export const colour = (index) => COLOURS[index % COLOURS.length];

// Rectangles (data-testid=face-box), the landmarks (data-testid=landmark) and a label per face.
export function drawFaces(photo, faces, labelOf = (face, index) => String(index + 1)) {
  const { layer, width, height } = photo;
  layer.replaceChildren();
  const unit = Math.max(width, height) / 600;   // a screen-ish pixel at typical display sizes
  faces.forEach((face, index) => {
    const r = face.faceRectangle;
    const stroke = colour(index);
    layer.append(svgEl("rect", {
      "data-testid": "face-box", x: r.left, y: r.top, width: r.width, height: r.height,
      fill: "none", stroke, "stroke-width": 3, "vector-effect": "non-scaling-stroke",
    }));
    for (const [name, point] of Object.entries(face.faceLandmarks || {})) {
      layer.append(svgEl("circle", {
        "data-testid": "landmark", cx: point.x, cy: point.y, r: Math.max(1.5, 1.8 * unit), fill: stroke,
      }, svgEl("title", {}, name)));
    }
    const label = labelOf(face, index);
    if (label) {
      const size = Math.max(14, 22 * unit);
      const y = r.top > size * 1.4 ? r.top - size * 0.4 : r.top + r.height + size;
      layer.append(svgEl("text", { class: "face-label", x: r.left, y, "font-size": size, fill: stroke }, label));
    }
  });
}

// A square thumbnail of one face, cut out of the photo by the SVG viewBox.
export function faceThumb(photo, rectangle, caption) {
  const margin = rectangle.width * 0.25;
  const box = [rectangle.left - margin, rectangle.top - margin, rectangle.width + 2 * margin, rectangle.height + 2 * margin];
  const thumb = svgEl("svg", { class: "thumb", viewBox: box.map((v) => round(v, 1)).join(" "), role: "img", "aria-label": caption },
    svgEl("image", { href: photo.src, width: photo.width, height: photo.height }));
  return el("figure", { class: "face-thumb" }, thumb, el("figcaption", {}, caption));
}

// A photo's size and object URL without showing it (for thumbnails).
export async function photoOf(file) {
  const src = URL.createObjectURL(file);
  const img = await loadImage(src);
  return { src, width: img.naturalWidth, height: img.naturalHeight, name: file.name };
}

// Every face of every photo: [{faceId, faceRectangle, photo}], photos in the order given.
export async function facesOfPhotos(log, files) {
  const perPhoto = await Promise.all(files.map(async (file) => {
    const [faces, photo] = await Promise.all([detectFaces(log, file), photoOf(file)]);
    return faces.map((face) => ({ ...face, photo }));
  }));
  return perPhoto.flat();
}
