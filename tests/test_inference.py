"""The inference engine on the real models and the real photos (built by `make models`)."""
from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, ImageFilter, PngImagePlugin

from shared.errors import FaceError
from shared.inference import EMBEDDING_DIM, get_engine, images
from shared.inference.align import chip_points
from shared.inference.engine import RunCount
from shared.inference.quality import head_pose


@pytest.fixture(scope="module")
def engine():
    return get_engine()


@pytest.fixture(scope="module")
def samples(faces_dir):
    return faces_dir / "azure-samples"


def load(engine, path):
    return engine.decode(path.read_bytes())


def one_embedding(engine, path):
    image = load(engine, path)
    faces = engine.detect(image)
    assert len(faces) == 1
    return engine.embed(image, faces)[0]


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def expect_error(engine, data: bytes, code: str) -> None:
    with pytest.raises(FaceError) as caught:
        engine.decode(data)
    assert caught.value.code == code
    assert caught.value.status == 400


# --- verification -------------------------------------------------------------------------

def test_same_person_is_confident(engine, samples):
    dad1 = one_embedding(engine, samples / "Family1-Dad1.jpg")
    dad2 = one_embedding(engine, samples / "Family1-Dad2.jpg")
    assert engine.confidence(float(dad1 @ dad2)) >= 0.5


def test_different_people_are_not(engine, samples):
    dad = one_embedding(engine, samples / "Family1-Dad1.jpg")
    mom = one_embedding(engine, samples / "Family1-Mom1.jpg")
    assert engine.confidence(float(dad @ mom)) < 0.5


def test_each_family_member_is_found_in_the_group_photo(engine, samples):
    # The Azure identify quickstart: identification1.jpg shows dad, mom, son and daughter.
    people = ["Dad1", "Mom1", "Son1", "Daughter1"]
    known = np.stack([one_embedding(engine, samples / f"Family1-{p}.jpg") for p in people])
    image = load(engine, samples / "identification1.jpg")
    confidence = engine.confidence(engine.embed(image, engine.detect(image)) @ known.T)
    best = confidence.argmax(axis=1)
    assert sorted(best) == [0, 1, 2, 3]
    assert np.all(confidence[np.arange(4), best] >= 0.5)


def test_confidence_is_calibrated_around_the_threshold(engine):
    threshold = engine.same_person_similarity
    assert engine.confidence(threshold) == pytest.approx(0.5)
    values = engine.confidence(np.array([-1.0, threshold - 0.05, threshold - 0.01,
                                         threshold + 0.01, threshold + 0.05, 1.0]))
    assert values.shape == (6,)
    assert values[0] == 0 and values[-1] == 1
    assert np.all(np.diff(values[1:-1]) > 0)
    # Graded, not all-or-nothing: a little above or below the threshold is not 1 or 0.
    assert 0.05 < values[2] < 0.5 < values[3] < 0.95


def test_confidence_is_a_scale_of_false_match_rates(engine):
    calibration = engine.calibration
    for far, expected in [(1e-2, 0.25), (1e-4, 0.5), (1e-6, 2 / 3)]:
        assert engine.confidence(calibration.similarity_at_far(far)) == pytest.approx(expected)


def test_siblings_are_kept_apart(engine, samples):
    # The Azure quickstart family: the son and the daughter, young siblings, are different
    # people; the son, not enrolled, must not be identified as his sister.
    def photos(person):
        return np.stack([one_embedding(engine, path)
                         for path in sorted(samples.glob(f"Family1-{person}*.jpg"))])
    son, daughter = photos("Son"), photos("Daughter")
    assert len(son) == 2 and len(daughter) == 3
    assert np.all(engine.confidence(son @ daughter.T) < 0.5)
    gallery = np.concatenate([photos("Dad"), photos("Mom"), daughter])
    assert np.all((son @ gallery.T).max(axis=1) < engine.identify_similarity(len(gallery)))


def test_calibration_was_fitted_for_the_built_recognizer(engine):
    # If not: `python -m bench.evaluate --calibrate` and commit models/calibration.json.
    assert engine.calibration.recognizer_sha256 == engine.recognizer_sha256


def test_embeddings_are_batched_unit_vectors(engine, samples):
    image = load(engine, samples / "identification1.jpg")
    faces = engine.detect(image)
    batch = engine.embed(image, faces)
    assert batch.shape == (4, EMBEDDING_DIM) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1, atol=1e-5)
    assert np.allclose(batch[2], engine.embed(image, faces[2:3])[0], atol=1e-5)
    assert engine.embed(image, []).shape == (0, EMBEDDING_DIM)


# --- detection ----------------------------------------------------------------------------

def test_identification_photo_has_four_sane_faces(engine, samples):
    faces = engine.detect(load(engine, samples / "identification1.jpg"))
    assert len(faces) == 4
    areas = [f.width * f.height for f in faces]
    assert areas == sorted(areas, reverse=True)
    for face in faces:
        eye_left, eye_right, nose, mouth_left, mouth_right = face.landmarks
        assert eye_left[0] < eye_right[0] and mouth_left[0] < mouth_right[0]
        assert max(eye_left[1], eye_right[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
        inside = ((face.landmarks[:, 0] >= face.left)
                  & (face.landmarks[:, 0] <= face.left + face.width)
                  & (face.landmarks[:, 1] >= face.top)
                  & (face.landmarks[:, 1] <= face.top + face.height))
        assert inside.all()
        assert 0.5 < face.score <= 1


@pytest.mark.parametrize("name", ["Family1-Dad1.jpg", "Family1-Son1.jpg",
                                  "Family1-Daughter1.jpg"])
def test_small_face_in_a_full_hd_photo_is_found(engine, samples, name):
    # The contract's smallest face: 36 px in a 1920x1080 image.
    portrait = Image.open(samples / name).convert("RGB")
    face = engine.detect(np.asarray(portrait))[0]
    scale = 36 / face.width
    small = portrait.resize((round(portrait.width * scale), round(portrait.height * scale)),
                            Image.LANCZOS)
    canvas = Image.new("RGB", (1920, 1080), (120, 130, 140))
    canvas.paste(small, (1500, 700))
    found = engine.detect(np.asarray(canvas))
    assert len(found) == 1
    assert 1500 < found[0].left < 1500 + small.width and 700 < found[0].top < 700 + small.height


def test_blank_image_has_no_face(engine):
    assert engine.detect(np.full((480, 640, 3), 200, np.uint8)) == []


def test_concurrent_requests_agree(engine, samples):
    image = load(engine, samples / "identification1.jpg")
    expected = engine.embed(image, engine.detect(image))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: engine.embed(image, engine.detect(image)), range(4)))
    for result in results:
        assert np.allclose(result, expected, atol=1e-5)


def test_the_spinning_detector_finds_the_same_faces(engine, samples):
    """A run alone uses the detector's spinning session, one among others the sleeping one:
    the same graph, so the same faces to the bit."""
    image = load(engine, samples / "identification1.jpg")
    alone, among_others = (engine.detector.detect(image, alone=flag) for flag in (True, False))
    assert len(alone) == 4
    for a, b in zip(alone, among_others, strict=True):
        assert (a.left, a.top, a.width, a.height, a.score) == (b.left, b.top, b.width, b.height,
                                                               b.score)
        assert np.array_equal(a.landmarks, b.landmarks)


def test_a_run_is_alone_only_when_no_other_is_under_way():
    runs = RunCount()
    with runs.counted() as first:
        with runs.counted() as second:
            assert (first, second) == (True, False)
        with runs.counted() as third:
            assert third is False
    with runs.counted() as later:
        assert later is True
    started = threading.Barrier(4)

    def overlapping(_) -> bool:
        with runs.counted() as alone:
            started.wait()
            return alone
    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(overlapping, range(4))) == [False] * 3 + [True]


# --- decoding -----------------------------------------------------------------------------

def test_exif_orientation_is_applied(engine, samples):
    upright = Image.open(samples / "Family1-Dad1.jpg")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # camera held sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image = engine.decode(encode(stored, "JPEG", exif=exif, quality=95))
    assert image.shape == (upright.height, upright.width, 3)
    face = engine.detect(image)[0]
    assert face.landmarks[0, 1] < face.landmarks[2, 1] < face.landmarks[3, 1]


def test_jpeg_pixels_are_pillows_in_every_orientation(samples):
    """decode's OpenCV path for JPEGs gives Pillow's pixels (load(), the path of every other
    file), EXIF orientation included (a JPEG cut short: test_corrupt_and_truncated_images)."""
    photo = Image.open(samples / "Family1-Dad1.jpg").convert("RGB").resize((300, 200))
    grey = photo.convert("L")
    for picture, orientation in [(photo, o) for o in range(1, 9)] + [(grey, 1)]:
        exif = Image.Exif()
        exif[0x0112] = orientation
        for progressive in (False, True):
            data = encode(picture, "JPEG", exif=exif, quality=90, progressive=progressive)
            assert images._decode_jpeg(data) is not None
            assert np.array_equal(images.decode(data), images.rgb(images.load(data).image))


def test_a_jpeg_cut_short_is_complete_only_in_its_thumbnail(samples):
    """A phone photo's EXIF thumbnail ends with its own end-of-image marker: a cut main image
    must not pass for complete because of it (OpenCV would decode the part silently)."""
    photo = Image.open(samples / "Family1-Dad1.jpg").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 1
    thumbnail = encode(photo.resize((160, 120)), "JPEG")
    data = encode(photo, "JPEG", exif=exif.tobytes() + b"\x00" * 8 + thumbnail)
    assert images._complete_jpeg(data)
    assert not images._complete_jpeg(data[: len(data) * 2 // 3])
    assert data.find(b"\xff\xd9") < len(data) * 2 // 3     # the thumbnail's marker is there


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "GIF"])
def test_other_formats_decode(engine, samples, fmt):
    photo = Image.open(samples / "Family1-Mom1.jpg").convert("RGB")
    image = engine.decode(encode(photo, fmt))
    assert image.shape == (photo.height, photo.width, 3) and image.dtype == np.uint8
    assert len(engine.detect(image)) == 1


def test_sixteen_bit_grey_png_keeps_its_tones(engine):
    ramp = np.tile(np.linspace(0, 65535, 256), (64, 1))
    jitter = np.random.default_rng(2).integers(0, 200, ramp.shape)  # keeps the file over 1 KB
    ramp = np.clip(ramp - jitter, 0, 65535).astype(np.uint16)
    image = engine.decode(encode(Image.fromarray(ramp), "PNG"))
    assert image.shape == (64, 256, 3)
    assert image[0, 0, 0] == 0 and image[0, -1, 0] == 255 and 100 < image[0, 128, 0] < 156


def test_gif_gives_its_first_frame(engine):
    frames = [Image.new("RGB", (64, 64), colour) for colour in ((250, 0, 0), (0, 0, 250))]
    noise = Image.effect_noise((64, 64), 60).convert("RGB")  # keeps the file over 1 KB
    frames = [Image.blend(frame, noise, 0.1) for frame in frames]
    image = engine.decode(encode(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    red, _, blue = image.reshape(-1, 3).mean(axis=0)
    assert red > 150 > blue


def test_size_limits(engine, samples):
    expect_error(engine, b"", "InvalidImageSize")
    expect_error(engine, (samples / "Family1-Dad1.jpg").read_bytes()[:1000], "InvalidImageSize")
    expect_error(engine, b"\xff\xd8" + bytes(6 * 1024 * 1024), "InvalidImageSize")


def test_corrupt_and_truncated_images(engine, samples):
    rng = np.random.default_rng(1)
    expect_error(engine, rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), "InvalidImage")
    data = (samples / "identification1.jpg").read_bytes()
    expect_error(engine, data[: len(data) // 2], "InvalidImage")


def test_unsupported_format(engine, samples):
    photo = Image.open(samples / "Family1-Dad1.jpg")
    expect_error(engine, encode(photo, "TIFF"), "InvalidImage")


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims another size: what a decompression bomb looks like."""
    info = PngImagePlugin.PngInfo()
    info.add_text("padding", "x" * 2048)
    data = bytearray(encode(Image.new("L", (8, 8)), "PNG", pnginfo=info))
    ihdr = struct.pack(">II", width, height) + data[24:29]
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


# Pillow only warns about a bomb under 179 Mpx; where warnings are errors it must not be a 500.
@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("size", [(30000, 30000), (10000, 10000), (7000, 7000), (20000, 40)])
def test_decompression_bombs_and_absurd_dimensions(engine, size):
    expect_error(engine, png_claiming(*size), "InvalidImageSize")


def png_of_zeros(width: int, height: int, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    """A complete, valid PNG of black pixels: tiny on disk, huge once decoded (a text chunk
    keeps it over the 1 KB minimum)."""
    channels = {0: 1, 2: 3}[colour_type]
    row = bytes(1 + width * channels * bit_depth // 8)
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(
            ">I", zlib.crc32(kind + payload))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tEXt", b"pad\0" + b"x" * 1024)
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height, bits, colour", [
    (8192, 4882, 8, 0), (4097, 2000, 8, 0), (36, 4097, 8, 2), (5000, 3000, 16, 2),
    (4500, 4500, 16, 0)])
def test_decoded_size_is_limited_before_decoding(engine, width, height, bits, colour):
    """The 39 KB PNG of 8192x4882 from the report, and its 16-bit twins, refused from the
    header: quickly and without the memory of their pixels."""
    data = png_of_zeros(width, height, bits, colour)
    assert len(data) < 6 * 1024 * 1024
    started = time.perf_counter()
    expect_error(engine, data, "InvalidImageSize")
    assert time.perf_counter() - started < 0.5


def test_the_largest_allowed_image_decodes(engine):
    assert engine.decode(png_of_zeros(4096, 64, 16, 2)).shape == (64, 4096, 3)
    assert engine.decode(png_of_zeros(64, 4096, 8, 0)).shape == (4096, 64, 3)


def gif_claiming(width: int, height: int) -> bytes:
    """A GIF whose logical screen is `width` x `height` around one small frame."""
    frame = Image.effect_noise((64, 64), 60).convert("P")
    data = bytearray(encode(frame, "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("size", [(65535, 65535), (8000, 100), (100, 5000)])
def test_gif_logical_screen_bombs(engine, size):
    expect_error(engine, gif_claiming(*size), "InvalidImageSize")


def test_webp_is_refused_before_decoding(engine):
    photo = Image.effect_noise((256, 256), 60).convert("RGB")
    expect_error(engine, encode(photo, "WEBP"), "InvalidImage")


# --- quality ------------------------------------------------------------------------------

def test_quality_fields_are_in_range(engine, samples):
    image = load(engine, samples / "Family1-Dad1.jpg")
    quality = engine.quality(image, engine.detect(image)[0])
    for value in (quality.blur, quality.exposure, quality.noise):
        assert 0 <= value <= 1
    for angle in (quality.yaw, quality.pitch, quality.roll):
        assert -30 < angle < 30  # a frontal portrait
    assert (quality.blur_level, quality.exposure_level, quality.noise_level) == (
        "low", "goodExposure", "low")
    assert quality.recognition == "high"


def test_quality_follows_the_image(engine, samples):
    photo = Image.open(samples / "Family1-Dad1.jpg").convert("RGB")
    blurred = np.asarray(photo.filter(ImageFilter.GaussianBlur(4)))
    dark = np.asarray(photo.point(lambda v: v // 4))
    face = engine.detect(np.asarray(photo))[0]
    assert engine.quality(blurred, face).blur_level == "high"
    assert engine.quality(blurred, face).recognition == "low"
    assert engine.quality(dark, face).exposure_level == "underExposure"


def test_head_pose_of_template_faces():
    frontal = chip_points()
    assert np.allclose(head_pose(frontal), 0, atol=0.05)
    turn = np.radians(20)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    yaw, pitch, roll = head_pose(frontal @ rotation.T)  # rotated clockwise on screen
    assert roll == pytest.approx(20) and abs(yaw) < 0.05 and abs(pitch) < 0.05
    nose_right, nose_up = frontal.copy(), frontal.copy()
    nose_right[2, 0] += 10
    nose_up[2, 1] -= 10
    assert head_pose(nose_right)[0] > 10 and head_pose(nose_up)[1] > 10


def test_head_pose_follows_a_tilted_photo(engine, samples):
    photo = Image.open(samples / "Family1-Mom1.jpg").convert("RGB")
    tilted = np.asarray(photo.rotate(-15, resample=Image.BICUBIC, expand=True))  # clockwise
    before = engine.quality(np.asarray(photo), engine.detect(np.asarray(photo))[0])
    after = engine.quality(tilted, engine.detect(tilted)[0])
    assert after.roll - before.roll > 7


def test_engine_is_one_per_process_and_warms_up(engine):
    assert get_engine() is engine
    engine.warm_up()
