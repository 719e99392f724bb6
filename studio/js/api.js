// Calls to the service from the page, each also written out as the equivalent curl command.

export const FACE = "/face/v1.2";
const KEY_STORAGE = "faceStudioKey";
export const KEY_REFUSED = "studio-key-refused";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const key = {
  get: () => sessionStorage.getItem(KEY_STORAGE) || "",
  set: (value) => sessionStorage.setItem(KEY_STORAGE, value),
  clear: () => sessionStorage.removeItem(KEY_STORAGE),
};

// A single-quoted shell word.
const quote = (text) => `'${String(text).replaceAll("'", `'\\''`)}'`;

function fullUrl(path, query) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) url.searchParams.set(name, value);
  return url.toString();
}

// The curl command for a request; the key stays in $FACE_KEY so that it is never shown.
export function curlCommand({ method, url, json, image, output }) {
  const lines = [`curl -X ${method} ${quote(url)}`, `-H "Ocp-Apim-Subscription-Key: $FACE_KEY"`];
  if (json !== undefined) {
    lines.push(`-H 'Content-Type: application/json'`, `-d ${quote(JSON.stringify(json))}`);
  }
  if (image) {
    lines.push(`-H 'Content-Type: application/octet-stream'`, `--data-binary ${quote("@" + image.name)}`);
  }
  if (output) lines.push(`--output ${quote(output)}`);
  return lines.join(" \\\n     ");
}

async function errorOf(response) {
  let envelope = null;
  try {
    envelope = await response.json();
  } catch {
    // not JSON: described by the status alone
  }
  const error = envelope && envelope.error;
  if (error && error.message) return new ApiError(response.status, error.code || "", error.message);
  return new ApiError(response.status, "", `The service answered ${response.status} ${response.statusText}.`.trim());
}

// One request: `json` (an object) or `image` (a File) as the body; `output` names the file a
// binary answer is saved to in the curl command. Resolves to the successful Response; rejects
// with an ApiError carrying the service's message.
export async function send(log, { method = "GET", path, query, json, image, output }) {
  const url = fullUrl(path, query);
  const entry = log.add(method, new URL(url).pathname, curlCommand({ method, url, json, image, output }));
  if (!key.get()) {
    entry.done("not sent");
    throw new ApiError(0, "", "Enter the endpoint key first (at the top of the page).");
  }
  const headers = { "Ocp-Apim-Subscription-Key": key.get() };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (image) {
    headers["Content-Type"] = "application/octet-stream";
    body = image;
  }
  const started = performance.now();
  let response;
  try {
    response = await fetch(url, { method, headers, body });
  } catch (err) {
    entry.done("no answer");
    throw new ApiError(0, "", `The service did not answer (${err.message}).`);
  }
  entry.done(`${response.status} · ${Math.round(performance.now() - started)} ms`);
  if (response.status === 401) {
    key.clear();
    dispatchEvent(new Event(KEY_REFUSED));   // the page asks for the key again
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

// As `send`, resolving to the parsed JSON, a Blob for binary answers, or null for empty ones.
export async function call(log, request) {
  const response = await send(log, request);
  const type = response.headers.get("Content-Type") || "";
  if (type.startsWith("application/json")) return response.json();
  const blob = await response.blob();
  return blob.size ? blob : null;
}

// Detect with faceIds, the models the recognition tabs use (the Azure quickstarts' choice).
export const RECOGNITION_MODELS = { detectionModel: "detection_03", recognitionModel: "recognition_04" };

export function detectFaces(log, image, query = RECOGNITION_MODELS) {
  return call(log, { method: "POST", path: `${FACE}/detect`, query: { returnFaceId: "true", ...query }, image });
}
