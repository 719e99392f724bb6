"""Detect's mask, glasses, occlusion and accessories attributes, in the wire shapes (contract
§4.3), from the appearance probabilities of shared/inference/appearance.py.

What each can tell (figures in models/README.md, `make eval`):
- mask: the classifier's with_mask probability; faceMask (nose and mouth covered) at
  MASK_YES or more, noMask at MASK_NO or less, `uncertain` between and for faces under
  MASK_MIN_SIZE px, on which the classifier guesses. A worn-under-the-nose mask or a hand
  over the mouth is not told apart: otherMaskOrOcclusion is never answered.
- glasses: NoGlasses, ReadingGlasses or Sunglasses (the sunglasses head learnt from few
  examples); SwimmingGoggles is never answered.
- occlusion: the forehead counts as occluded under headwear, the eyes behind sunglasses, the
  mouth behind a face mask; hair, hands and other objects are not seen.
- accessories: each of headwear, glasses, mask whose probability is at least ACCESSORY,
  with that probability as its confidence, most confident first ([] when none); no mask on
  faces under MASK_MIN_SIZE px."""
from __future__ import annotations

from shared.inference.appearance import Appearance

MASK_YES, MASK_NO = 0.65, 0.35
MASK_MIN_SIZE = 32
PRESENT = 0.5
ACCESSORY = 0.5

NAMES = ("mask", "glasses", "occlusion", "accessories")


def mask_type(look: Appearance) -> str:
    if look.size < MASK_MIN_SIZE or MASK_NO < look.mask < MASK_YES:
        return "uncertain"
    return "faceMask" if look.mask >= MASK_YES else "noMask"


def mask(look: Appearance) -> dict:
    kind = mask_type(look)
    return {"type": kind, "noseAndMouthCovered": kind == "faceMask"}


def glasses(look: Appearance) -> str:
    if look.glasses < PRESENT:
        return "NoGlasses"
    return "Sunglasses" if look.sunglasses >= PRESENT else "ReadingGlasses"


def occlusion(look: Appearance) -> dict:
    return {"foreheadOccluded": look.headwear >= PRESENT,
            "eyeOccluded": glasses(look) == "Sunglasses",
            "mouthOccluded": mask_type(look) == "faceMask"}


def accessories(look: Appearance) -> list[dict]:
    mask_seen = look.mask if look.size >= MASK_MIN_SIZE else 0.0
    found = [("headwear", look.headwear), ("glasses", look.glasses), ("mask", mask_seen)]
    return [{"type": kind, "confidence": round(confidence, 2)}
            for kind, confidence in sorted(found, key=lambda item: -item[1])
            if confidence >= ACCESSORY]


VALUES = {"mask": mask, "glasses": glasses, "occlusion": occlusion, "accessories": accessories}
