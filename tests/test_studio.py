"""The Face Studio in a real browser: Debian's Chromium (/usr/bin/chromium, which `make test`
installs) driven by Playwright, against the app served by the local runtime, on the Azure sample
photos. Every test fails on a console error in the page.

The landmark and redaction checks are in their own tests (`test_studio_landmarks_*`,
`test_studio_redact_*`): they need the landmark model and the redaction operation.

Screenshots of each flow are written reduced to $STUDIO_SCREENSHOTS when it is set
(`make screenshots` writes docs/studio/, shown in the README), else to a temporary folder."""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
import requests
from PIL import Image
from playwright.sync_api import Locator, Page, expect, sync_playwright

from tests.conftest import TEST_KEY
from tests.image_server import ImageServer, send
from tests.service import running_service

CHROMIUM = Path("/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 30_000         # generous: the machine may be busy
SCREENSHOT_WIDTH = 960      # screenshots are reduced to this width and a small palette
FAMILY = {"Dad": ("Dad1", "Dad2", "Dad3"), "Mom": ("Mom1", "Mom2"), "Son": ("Son1", "Son2"),
          "Daughter": ("Daughter1", "Daughter2", "Daughter3")}


@pytest.fixture(scope="module")
def base_url(azurite):
    with running_service() as (host, _):
        yield host.url


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package "
                    "(apt-get install -y chromium, as root)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("STUDIO_SCREENSHOTS")
    return Path(folder) if folder else tmp_path_factory.mktemp("studio-screenshots")


class Studio:
    """A page of the studio with the key entered, and the console errors it logged."""

    def __init__(self, page: Page, screenshots: Path):
        self.page = page
        self.screenshots = screenshots
        self.console_errors: list[str] = []
        page.on("console", lambda message: message.type == "error"
                and self.console_errors.append(message.text))
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        page.on("dialog", lambda dialog: dialog.accept())

    def __getattr__(self, name):
        return getattr(self.page, name)

    def by(self, test_id: str):
        return self.page.get_by_test_id(test_id)

    def panel(self, name: str):
        return self.page.locator(f"#panel-{name}")

    def enter_key(self, key: str = TEST_KEY) -> None:
        self.by("key-input").fill(key)
        self.by("key-input").press("Enter")

    def screenshot(self, name: str, part: Locator | None = None) -> Path:
        """A reduced PNG of the window, or of one `part` of it (small enough to commit)."""
        image = Image.open(io.BytesIO((part or self.page).screenshot())).convert("RGB")
        if image.width > SCREENSHOT_WIDTH:
            image = image.resize((SCREENSHOT_WIDTH, round(image.height * SCREENSHOT_WIDTH
                                                          / image.width)), Image.LANCZOS)
        path = self.screenshots / f"{name}.png"
        self.screenshots.mkdir(parents=True, exist_ok=True)
        image.quantize(colors=128, dither=Image.Dither.NONE).save(path, optimize=True)
        return path

    def assert_no_console_errors(self) -> None:
        assert self.console_errors == []


@pytest.fixture
def studio(browser, base_url, screenshots):
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = Studio(context.new_page(), screenshots)
    page.goto(base_url + "/")
    page.enter_key()
    yield page
    context.close()


@pytest.fixture(autouse=True, scope="module")
def patient_expectations():
    expect.set_options(timeout=TIMEOUT_MS)


def either_shown(result: Locator, error: Locator) -> Locator:
    """The first of `result` and `error` to be shown. The hidden error paragraph is always in
    the page and comes first, so a bare `result.or_(error).first` would wait on it forever."""
    return result.or_(error).filter(visible=True).first


def photo(folder: Path, name: str) -> str:
    return str(folder / f"{name}.jpg")


def test_studio_routes_are_public_and_the_api_is_not(base_url):
    home = requests.get(base_url + "/", allow_redirects=False, timeout=10)
    assert home.status_code == 302 and home.headers["Location"] == "/studio/"
    assert requests.get(base_url + "/studio", allow_redirects=False,
                        timeout=10).headers["Location"] == "/studio/"
    page = requests.get(base_url + "/studio/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert 'data-testid="key-input"' in page.text
    script = requests.get(base_url + "/studio/js/main.js", timeout=10)
    assert script.headers["Content-Type"].startswith("text/javascript")
    # Nothing outside studio/ is served, however the path is spelled.
    for path in ("/studio/%2e%2e/host.json", "/studio/..%2Ffunction_app.py",
                 "/studio/missing.js", "/studio/js/", "/anything-else"):
        assert requests.get(base_url + path, timeout=10).status_code == 404, path
    options = requests.get(base_url + "/studio/api-options.json", timeout=10).json()
    assert options["detectionModels"] == ["detection_01", "detection_02", "detection_03"]
    assert "recognition_04" in options["recognitionModels"]
    offered = options["attributes"]
    assert {"headPose", "qualityForRecognition", "mask"} <= set(offered["detection_03"])
    assert "accessories" in offered["detection_01"] and "accessories" not in offered["detection_03"]
    assert offered["detection_02"] == []
    assert not {"age", "smile", "hair", "facialHair"} & set().union(*map(set, offered.values()))
    # The API itself still needs the key.
    assert requests.get(base_url + "/face/v1.2/largepersongroups", timeout=10).status_code == 401


def test_studio_key_and_tabs_by_keyboard(browser, base_url, screenshots):
    context = browser.new_context(viewport=DESKTOP)
    page = Studio(context.new_page(), screenshots)
    page.goto(base_url + "/studio/")
    expect(page.by("key-input")).to_be_focused()     # the key is asked for first
    page.keyboard.type("not-the-key")
    page.keyboard.press("Enter")
    expect(page.by("key-input")).to_be_hidden()
    page.by("tab-identify").click()                   # lists the groups: refused
    expect(page.panel("identify").locator(".error")).to_contain_text(
        "Access denied due to invalid subscription key")
    expect(page.by("key-input")).to_be_focused()     # asked for again
    assert page.console_errors and all("status of 401" in line for line in page.console_errors)
    page.console_errors.clear()
    page.keyboard.type(TEST_KEY)
    page.keyboard.press("Enter")
    expect(page.by("key-input")).to_be_hidden()
    expect(page.panel("identify").locator(".error")).to_be_hidden()
    expect(page.by("tab-identify")).to_be_focused()
    page.keyboard.press("Home")
    expect(page.by("tab-detect")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowRight")
    expect(page.by("tab-verify")).to_have_attribute("aria-selected", "true")
    expect(page.panel("verify")).to_be_visible()
    expect(page.panel("detect")).to_be_hidden()
    page.keyboard.press("End")
    expect(page.by("tab-redact")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Tab")                        # into the panel's first control
    expect(page.by("redact-method")).to_be_focused()
    # Kept for the browser session (a reload), not beyond it (a new context).
    page.reload()
    expect(page.by("key-input")).to_be_hidden()
    expect(page.panel("redact")).to_be_visible()
    # Every tab fits a phone-width window (nothing wider than the screen).
    page.set_viewport_size(PHONE)
    for tab in ("detect", "verify", "similar", "group", "identify", "redact"):
        page.by(f"tab-{tab}").click()
        expect(page.panel(tab)).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), tab
    page.assert_no_console_errors()
    context.close()
    other = browser.new_context().new_page()
    other.goto(base_url + "/studio/")
    expect(other.get_by_test_id("key-input")).to_be_visible()
    other.context.close()


def test_studio_detect_boxes_and_attributes(studio, folder):
    studio.by("image-input").set_input_files(photo(folder, "identification1"))
    expect(studio.by("face-box")).to_have_count(4)
    cards = studio.by("face-attributes")
    expect(cards).to_have_count(4)
    for card in cards.all():
        expect(card).to_contain_text("qualityForRecognition")
        expect(card).to_contain_text("headPose")
    expect(studio.by("detect-status")).to_have_text("4 faces found.")
    curl = studio.panel("detect").locator(".requests pre").inner_text()
    assert curl.startswith("curl -X POST '") and "/face/v1.2/detect?" in curl
    assert "--data-binary '@identification1.jpg'" in curl and TEST_KEY not in curl
    studio.screenshot("detect")

    # Readable on a phone-width window: nothing wider than the screen.
    studio.set_viewport_size(PHONE)
    expect(studio.by("face-box")).to_have_count(4)
    assert studio.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    studio.screenshot("detect-phone")
    studio.assert_no_console_errors()


def test_studio_detect_by_url_and_by_drop(studio, folder, monkeypatch):
    monkeypatch.setenv("FACE_URL_ALLOWLIST", "127.0.0.1")
    server = ImageServer()
    server.routes["/dad.jpg"] = send(Path(photo(folder, "Family1-Dad1")).read_bytes(),
                                     headers={"Content-Type": "image/jpeg"})
    try:
        studio.by("image-url").fill(server.url("/dad.jpg"))
        studio.by("image-url").press("Enter")
        expect(studio.by("detect-status")).to_have_text("1 face found.")
        expect(studio.locator("#detect-photo img")).to_have_attribute("src", server.url("/dad.jpg"))
        curl = studio.panel("detect").locator(".requests pre").inner_text()
        assert f"-d '{{\"url\":\"{server.url('/dad.jpg')}\"}}'" in curl
    finally:
        server.close()
    expect(studio.by("face-box")).to_have_count(1)

    # A photo dropped on the picker, as a file manager would.
    dropped = studio.evaluate_handle("""async (bytes) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], "Family1-Mom1.jpg", {type: "image/jpeg"}));
        return transfer;
    }""", list(Path(photo(folder, "Family1-Mom1")).read_bytes()))
    studio.locator("#detect-picker").dispatch_event("drop", {"dataTransfer": dropped})
    expect(studio.panel("detect").locator(".requests pre")).to_contain_text("@Family1-Mom1.jpg")
    expect(studio.by("detect-status")).to_have_text("1 face found.")
    studio.assert_no_console_errors()


def test_studio_shows_the_api_error_message(studio, folder):
    # detection_02 serves no attributes (none are offered) and no landmarks (asked anyway).
    studio.by("detection-model").select_option("detection_02")
    landmarks = studio.by("return-landmarks")
    if not landmarks.is_checked():
        landmarks.check()
    studio.by("image-input").set_input_files(photo(folder, "Family1-Dad1"))
    expect(studio.by("detect-error")).to_have_text(
        "'returnLandmarks' is not supported by detection_02. (HTTP 400, BadArgument)")
    expect(studio.by("face-box")).to_have_count(0)
    # The only console line is the browser's own note of the 400 answer.
    assert studio.console_errors and all("status of 400" in line
                                         for line in studio.console_errors)


def test_studio_landmarks_on_identification1(studio, folder):
    landmarks = studio.by("return-landmarks")
    if not landmarks.is_checked():
        landmarks.check()
    studio.by("image-input").set_input_files(photo(folder, "identification1"))
    error = studio.by("detect-error")
    expect(either_shown(studio.by("face-box"), error)).to_be_visible()
    assert error.is_hidden(), f"detect with landmarks was refused: {error.inner_text()}"
    expect(studio.by("face-box")).to_have_count(4)
    expect(studio.by("landmark")).to_have_count(4 * 27)
    studio.screenshot("detect-landmarks", studio.locator("#detect-photo .photo"))
    studio.assert_no_console_errors()


def test_studio_verify(studio, folder):
    studio.by("tab-verify").click()
    studio.by("verify-image-1").set_input_files(photo(folder, "Family1-Dad1"))
    studio.by("verify-image-2").set_input_files(photo(folder, "Family1-Dad2"))
    result = studio.by("verify-result")
    expect(result).to_contain_text("same person")
    expect(studio.panel("verify").locator(".error")).to_be_hidden()
    requests_made = studio.panel("verify").locator(".requests pre").all_inner_texts()
    assert sum("/face/v1.2/detect" in curl for curl in requests_made) == 2
    assert any("/face/v1.2/verify" in curl and '"faceId1"' in curl for curl in requests_made)
    studio.screenshot("verify")
    studio.by("verify-image-2").set_input_files(photo(folder, "Family1-Mom1"))
    expect(result).to_contain_text("different people")
    studio.assert_no_console_errors()


def test_studio_find_similar_and_group(studio, folder):
    studio.by("tab-similar").click()
    studio.by("similar-query").set_input_files(photo(folder, "Family1-Dad1"))
    studio.by("similar-photos").set_input_files(
        [photo(folder, name) for name in ("Family1-Mom1", "Family1-Dad2", "Family1-Son1",
                                          "Family1-Dad3", "Family1-Daughter1")])
    found = studio.by("similar-result").locator(".thumb-row").nth(1).locator("figcaption")
    expect(found.first).to_be_visible()
    captions = found.all_inner_texts()
    assert sorted(re.sub(r"^[\d.]+ · ", "", c) for c in captions[:2]) == [
        "Family1-Dad2.jpg", "Family1-Dad3.jpg"], captions
    studio.screenshot("find-similar")

    studio.by("tab-group").click()
    studio.by("group-photos").set_input_files(
        [photo(folder, name) for name in ("Family1-Dad1", "Family1-Mom1", "Family1-Dad2",
                                          "Family1-Mom2", "Family1-Dad3")])
    groups = studio.by("group-result").locator(".face-group")
    expect(groups.first).to_be_visible()
    members = [set(group.locator("figcaption").all_inner_texts()) for group in groups.all()]
    assert {"Family1-Dad1.jpg", "Family1-Dad2.jpg", "Family1-Dad3.jpg"} in members, members
    assert not any({"Family1-Dad1.jpg", "Family1-Mom1.jpg"} <= group for group in members)
    studio.screenshot("group")
    expect(studio.locator(".error:visible")).to_have_count(0)
    studio.assert_no_console_errors()


def test_studio_identify_the_family(studio, folder, base_url):
    studio.by("tab-identify").click()
    studio.by("group-name").fill("Studio family")
    studio.by("group-name").press("Enter")
    expect(studio.locator("#group-title")).to_have_text("Studio family (studio-family)")
    for count, (name, photos) in enumerate(FAMILY.items(), start=1):
        studio.by("person-name").fill(name)
        studio.by("person-images").set_input_files(
            [photo(folder, f"Family1-{p}") for p in photos])
        studio.by("add-person").click()
        expect(studio.by("person")).to_have_count(count)
        expect(studio.by("person").filter(has=studio.locator(f"input[value='{name}']"))) \
            .to_contain_text(f"{len(photos)} faces")
    studio.by("train").click()
    expect(studio.by("training-succeeded")).to_be_visible()
    studio.by("identify-image").set_input_files(photo(folder, "identification1"))
    expect(studio.by("identified-name")).to_have_count(4)
    assert sorted(studio.by("identified-name").all_inner_texts()) == sorted(FAMILY)
    expect(studio.locator(".error:visible")).to_have_count(0)
    studio.locator("#identify-photo").evaluate("section => section.scrollIntoView()")
    studio.screenshot("identify")

    # Rename the group and a person, then delete the group.
    studio.by("group-rename").fill("The Family1 photos")
    studio.by("group-rename").press("Enter")
    status = studio.panel("identify").locator("p.status")
    expect(status).to_have_text("Group renamed.")
    expect(studio.by("group-list")).to_contain_text("The Family1 photos")
    son = studio.by("person").filter(has=studio.locator("input[value='Son']"))
    son.locator("input").fill("Son (renamed)")
    son.get_by_role("button", name="Rename").click()
    expect(status).to_have_text("Renamed; identify uses the new name at once.")
    expect(studio.locator("[data-testid=person] input[value='Son (renamed)']")).to_have_count(1)
    studio.by("delete-group").click()
    expect(studio.locator("#group-detail")).to_be_hidden()
    expect(studio.by("group-list")).not_to_contain_text("studio-family")
    left = requests.get(base_url + "/face/v1.2/largepersongroups/studio-family", timeout=10,
                        headers={"Ocp-Apim-Subscription-Key": TEST_KEY})
    assert left.status_code == 404
    studio.assert_no_console_errors()


def test_studio_redact_blurs_identification1(studio, folder):
    studio.by("tab-redact").click()
    studio.by("redact-method").select_option("blur")
    studio.by("redact-image").set_input_files(photo(folder, "identification1"))
    error = studio.panel("redact").locator(".error")
    redacted = studio.by("redacted-image")
    expect(either_shown(redacted, error)).to_be_visible()
    assert error.is_hidden(), f"redaction was refused: {error.inner_text()}"
    size = redacted.evaluate("img => img.complete && [img.naturalWidth, img.naturalHeight]")
    assert size == list(Image.open(photo(folder, "identification1")).size)
    # The count comes from the answer's x-redacted-faces header.
    expect(studio.panel("redact").locator(".status")).to_contain_text("4 faces obscured")
    download = studio.by("redacted-download")
    expect(download).to_have_attribute("download", "identification1-redacted.jpg")
    expect(download).to_have_attribute("href", re.compile(r"^blob:"))
    curl = studio.panel("redact").locator(".requests pre").inner_text()
    assert "/redact/v1/image?method=blur" in curl and "--output 'identification1-redacted.jpg'" in curl
    studio.screenshot("redact")
    studio.assert_no_console_errors()
