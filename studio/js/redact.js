// Redact: a photo -> the same photo with every face obscured, shown and offered for download.
import { send } from "./api.js";
import { RequestLog, messages, picker } from "./ui.js";

const REDACT = "/redact/v1/image";

// "party.jpg" -> "party-redacted.jpg"
const redactedName = (name) => name.replace(/(\.[^.]*)?$/, (ext) => `-redacted${ext}`);

export function setupRedact(panel) {
  const log = new RequestLog(panel);
  const say = messages(panel);
  const result = panel.querySelector(".redact-result");
  const image = result.querySelector("img");
  const download = result.querySelector("a");
  let file = null;

  async function run() {
    if (!file) return;
    log.reset();
    result.hidden = true;
    say.busy("Redacting…");
    try {
      const name = redactedName(file.name);
      const response = await send(log, { method: "POST", path: REDACT, query: { method: panel.querySelector("#redact-method").value }, image: file, output: name });
      const blob = await response.blob();
      if (!blob.size) throw new Error("The service answered without an image.");
      const faces = Number(response.headers.get("x-redacted-faces"));
      if (image.src) URL.revokeObjectURL(image.src);
      image.src = download.href = URL.createObjectURL(blob);
      download.download = name;
      result.hidden = false;
      say.done(`${faces} face${faces === 1 ? "" : "s"} obscured · ${name} · ${Math.round(blob.size / 1024)} KB`);
    } catch (err) {
      say.fail(err);
    }
  }

  picker(panel.querySelector(".picker"), ([chosen]) => { file = chosen; run(); });
  panel.querySelector("#redact-method").addEventListener("change", run);
}
