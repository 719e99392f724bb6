// Identify: large person groups (list, create, rename, delete), their persons (add with photos,
// rename, delete), training with its progress, and the faces of a photo named.
import { FACE, RECOGNITION_MODELS, call, detectFaces, key } from "./api.js";
import { RequestLog, drawFaces, el, messages, picker, round, showPhoto } from "./ui.js";

const GROUPS = `${FACE}/largepersongroups`;
const POLL_MS = 500;
const IDENTIFY_BATCH = 10;   // faceIds per identify call (contract §6)

// A group id from its name: the contract allows ^[a-z0-9-_]{1,64}$.
const groupId = (name) => name.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64) || "group";

export function setupIdentify(panel) {
  const log = new RequestLog(panel);
  const say = messages(panel);
  const detail = panel.querySelector("#group-detail");
  const identifySection = panel.querySelector("#identify-photo");
  const trainButton = panel.querySelector("[data-testid=train]");
  const progress = detail.querySelector("progress");
  const trainingStatus = detail.querySelector(".training-status");
  let group = null;      // the selected group
  let persons = [];

  // One user action: a fresh request log, the status line, errors shown.
  const action = (busyText, work) => async (...args) => {
    log.reset();
    say.busy(busyText);
    try {
      const text = await work(...args);
      say.done(typeof text === "string" ? text : "");
    } catch (err) {
      say.fail(err);
    }
  };

  async function listGroups() {
    const groups = await call(log, { path: GROUPS, query: { returnRecognitionModel: "true" } });
    const list = panel.querySelector(".group-list");
    list.replaceChildren(...groups.map((g) => {
      const button = el("button", { type: "button", "aria-pressed": String(g.largePersonGroupId === group?.largePersonGroupId) },
        `${g.name} `, el("span", { class: "muted" }, `(${g.largePersonGroupId}, ${g.recognitionModel})`));
      button.addEventListener("click", action("Opening the group…", () => openGroup(g)));
      return el("li", {}, button);
    }));
    if (!groups.length) list.append(el("li", { class: "muted" }, "No group yet."));
    return groups;
  }

  async function openGroup(g) {
    if (group?.largePersonGroupId !== g.largePersonGroupId) showTraining("");
    group = g;
    detail.hidden = identifySection.hidden = false;
    detail.querySelector("#group-title").textContent = `${g.name} (${g.largePersonGroupId})`;
    detail.querySelector("[data-testid=group-rename]").value = g.name;
    await Promise.all([listPersons(), listGroups()]);
  }

  function closeGroup() {
    group = null;
    detail.hidden = identifySection.hidden = true;
  }

  async function listPersons() {
    persons = await call(log, { path: `${GROUPS}/${group.largePersonGroupId}/persons` });
    const list = detail.querySelector(".person-list");
    list.replaceChildren(...persons.map(personRow));
    if (!persons.length) list.append(el("li", { class: "muted" }, "No person yet."));
  }

  function personRow(person) {
    const name = el("input", { value: person.name, required: true, maxlength: 128, "aria-label": `Name of ${person.name}` });
    const rename = el("button", { type: "button" }, "Rename");
    const remove = el("button", { type: "button", class: "danger", "aria-label": `Delete ${person.name}` }, "Delete");
    const personPath = `${GROUPS}/${group.largePersonGroupId}/persons/${person.personId}`;
    rename.addEventListener("click", action("Renaming…", async () => {
      await call(log, { method: "PATCH", path: personPath, json: { name: name.value.trim() } });
      await listPersons();
      return "Renamed; identify uses the new name at once.";
    }));
    remove.addEventListener("click", action("Deleting…", async () => {
      if (!confirm(`Delete ${person.name} and their faces?`)) return "";
      await call(log, { method: "DELETE", path: personPath });
      staleTraining();
      await listPersons();
      return `${person.name} deleted.`;
    }));
    const faces = person.persistedFaceIds.length;
    return el("li", { "data-testid": "person" }, name, rename, remove,
      el("span", { class: "muted" }, `${faces} face${faces === 1 ? "" : "s"}`));
  }

  function showTraining(text, state = "") {
    trainingStatus.replaceChildren(state === "succeeded" ? el("span", { "data-testid": "training-succeeded" }, text) : text);
    trainingStatus.className = `training-status ${state}`;
    progress.hidden = state !== "running";
  }

  function staleTraining() {
    showTraining("The group changed since its last training: train it again.");
  }

  async function train() {
    const path = `${GROUPS}/${group.largePersonGroupId}`;
    await call(log, { method: "POST", path: `${path}/train` });
    const started = performance.now();
    for (;;) {
      const status = await call(log, { path: `${path}/training` });
      const seconds = round((performance.now() - started) / 1000, 1);
      if (status.status === "succeeded") {
        showTraining(`Training succeeded in ${seconds} s.`, "succeeded");
        return "";
      }
      if (status.status === "failed") {
        showTraining(`Training failed: ${status.message || "no reason given"}`, "failed");
        return "";
      }
      showTraining(`Training: ${status.status}… ${seconds} s`, "running");
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async function addPerson(name, files) {
    const path = `${GROUPS}/${group.largePersonGroupId}/persons`;
    const { personId } = await call(log, { method: "POST", path, json: { name } });
    staleTraining();
    const refused = [];
    for (const [i, file] of files.entries()) {
      say.busy(`Adding ${name}: photo ${i + 1} of ${files.length}…`);
      try {
        await call(log, { method: "POST", path: `${path}/${personId}/persistedfaces`, query: { detectionModel: RECOGNITION_MODELS.detectionModel }, image: file });
      } catch (err) {
        refused.push(`${file.name}: ${err.message}`);
      }
    }
    await listPersons();
    if (refused.length) throw new Error(`${name} added, but not these photos: ${refused.join(" ")}`);
    return `${name} added with ${files.length} photo${files.length === 1 ? "" : "s"}.`;
  }

  async function identify(file) {
    const slot = identifySection.querySelector(".photo-slot");
    const [faces, photo] = await Promise.all([detectFaces(log, file), showPhoto(slot, URL.createObjectURL(file), "The photo to identify")]);
    const best = new Map();   // faceId -> best candidate
    for (let i = 0; i < faces.length; i += IDENTIFY_BATCH) {
      const results = await call(log, { method: "POST", path: `${FACE}/identify`, json: {
        largePersonGroupId: group.largePersonGroupId, faceIds: faces.slice(i, i + IDENTIFY_BATCH).map((face) => face.faceId),
        maxNumOfCandidatesReturned: 1 } });
      for (const result of results) best.set(result.faceId, result.candidates[0]);
    }
    const names = new Map(persons.map((person) => [person.personId, person.name]));
    const nameOf = (face) => names.get(best.get(face.faceId)?.personId);
    drawFaces(photo, faces, (face) => nameOf(face) || "unknown");
    identifySection.querySelector(".identified").replaceChildren(...faces.map((face, i) => {
      const candidate = best.get(face.faceId);
      return el("li", {}, `Face ${i + 1}: `, nameOf(face)
        ? el("strong", { "data-testid": "identified-name" }, nameOf(face))
        : el("span", { class: "muted" }, "not in the group"),
        candidate ? ` · confidence ${round(candidate.confidence)}` : "");
    }));
    return `${faces.length} face${faces.length === 1 ? "" : "s"}, ${[...best.values()].filter(Boolean).length} identified.`;
  }

  panel.querySelector("#create-group").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = event.target.querySelector("[data-testid=group-name]");
    const name = input.value.trim();
    action("Creating the group…", async () => {
      const id = groupId(name);
      await call(log, { method: "PUT", path: `${GROUPS}/${id}`, json: { name, recognitionModel: RECOGNITION_MODELS.recognitionModel } });
      input.value = "";
      await openGroup({ largePersonGroupId: id, name, recognitionModel: RECOGNITION_MODELS.recognitionModel });
      return `Group ${name} created.`;
    })();
  });

  detail.querySelector("#rename-group").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = event.target.querySelector("input").value.trim();
    action("Renaming the group…", async () => {
      await call(log, { method: "PATCH", path: `${GROUPS}/${group.largePersonGroupId}`, json: { name } });
      await openGroup({ ...group, name });
      return "Group renamed.";
    })();
  });

  detail.querySelector("[data-testid=delete-group]").addEventListener("click", action("Deleting the group…", async () => {
    if (!confirm(`Delete the group ${group.name}, its persons and their faces?`)) return "";
    const { name } = group;
    await call(log, { method: "DELETE", path: `${GROUPS}/${group.largePersonGroupId}` });
    closeGroup();
    await listGroups();
    return `Group ${name} deleted.`;
  }));

  detail.querySelector("#add-person").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const nameInput = form.querySelector("[data-testid=person-name]");
    const filesInput = form.querySelector("[data-testid=person-images]");
    const name = nameInput.value.trim();
    const files = [...filesInput.files];
    action(`Adding ${name}…`, async () => {
      const done = await addPerson(name, files);
      form.reset();
      return done;
    })();
  });

  trainButton.addEventListener("click", action("Training…", train));
  picker(identifySection.querySelector(".picker"), action("Identifying…", ([file]) => identify(file)));

  // Called when the tab opens: the groups as the service has them now.
  return () => {
    if (key.get()) action("Listing the groups…", listGroups)();
  };
}
