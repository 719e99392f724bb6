// The page: the endpoint key (asked once, kept for the browser session), the tabs, and each
// tab's own module.
import { KEY_REFUSED, key } from "./api.js";
import { setupDetect } from "./detect.js";
import { setupVerify } from "./verify.js";
import { setupSimilar } from "./similar.js";
import { setupGroup } from "./group.js";
import { setupIdentify } from "./identify.js";
import { setupRedact } from "./redact.js";

const TABS = {
  detect: setupDetect, verify: setupVerify, similar: setupSimilar, group: setupGroup,
  identify: setupIdentify, redact: setupRedact,
};
const shown = new Map();   // tab name -> its module's `show` (called when the tab opens)
const tabName = (tab) => tab.id.replace("tab-", "");

function setupKey() {
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  const done = document.getElementById("key-set");
  const showKeyState = () => {
    form.hidden = Boolean(key.get());
    done.hidden = !key.get();
  };
  const askAgain = () => {
    showKeyState();
    input.focus();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    key.set(input.value.trim());
    input.value = "";
    showKeyState();
    // Back to the tab, which refreshes what it shows, now with the key.
    selectTab(tabName(document.querySelector("[role=tab][aria-selected=true]")), true);
  });
  document.getElementById("key-change").addEventListener("click", () => {
    key.clear();
    askAgain();
  });
  addEventListener(KEY_REFUSED, askAgain);
  showKeyState();
  if (!key.get()) input.focus();
}

function selectTab(name, focus = false) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    document.getElementById(tab.getAttribute("aria-controls")).hidden = !selected;
    if (selected && focus) tab.focus();
  }
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  shown.get(name)?.();
}

// The WAI-ARIA tabs pattern: Tab reaches the selected tab, arrow keys / Home / End move.
function setupTabs() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tabName(tab)));
    tab.addEventListener("keydown", (event) => {
      const index = tabs.indexOf(tab);
      const next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      selectTab(tabName(tabs[(next + tabs.length) % tabs.length]), true);
    });
  }
  const start = location.hash.slice(1);
  selectTab(TABS[start] ? start : "detect");
}

for (const [name, setup] of Object.entries(TABS)) {
  const show = setup(document.getElementById(`panel-${name}`));
  if (show) shown.set(name, show);
}
setupKey();
setupTabs();
