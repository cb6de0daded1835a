/**
 * How a person reads alignment values: the wording every screen uses (issue 16, items 4–6).
 *
 * The server has the same functions in `clinical/core/presentation.py` (report, PDF, CSV, timeline);
 * both are checked against `clinicalText.cases.json`, so the queue, the editor, the report and the
 * timeline say the same thing.
 *
 * - HKA: `hka_deviation_deg` is signed, varus negative, valgus positive (architecture.md §4); the
 *   hip–knee–ankle angle is 180 − |deviation|. Shown as "HKA 171.0° (9.0° valgus)".
 * - Sides: the patient's side ("Right leg"), the image side only as a labelled hint
 *   ("Right leg (image left)"); flags stored as "left: …" (image side) are said with the patient side.
 * - Judgements: low/high (varus/valgus for HKA), normal, ", borderline" when the 95% interval
 *   crosses a limit, "—" without a range.
 */

export const OUTSIDE_INTENDED_USE = "outside_intended_use";

/** `value` with `digits` decimals, halves away from zero (the same rule as `fixed` in Python). */
export function fixed(value: number, digits = 1): string {
  const scale = 10 ** digits;
  const magnitude = Math.floor(Math.abs(value) * scale + 0.5) / scale;
  const text = magnitude.toFixed(digits);
  return value < 0 && magnitude !== 0 ? `-${text}` : text;
}

export function hkaAngleDeg(deviation: number): number {
  return 180 - Math.abs(deviation);
}

export type HkaDirection = "varus" | "valgus" | "straight";

export function hkaDirection(deviation: number, digits = 1): HkaDirection {
  if (Number(fixed(Math.abs(deviation), digits)) === 0) return "straight";
  return deviation < 0 ? "varus" : "valgus";
}

/** "171.0° (9.0° valgus)". */
export function hkaText(deviation: number, digits = 1): string {
  const direction = hkaDirection(deviation, digits);
  const angle = `${fixed(hkaAngleDeg(deviation), digits)}°`;
  if (direction === "straight") return `${angle} (straight)`;
  return `${angle} (${fixed(Math.abs(deviation), digits)}° ${direction})`;
}

/** "HKA 171.0° (9.0° valgus)". */
export function formatHka(deviation: number, digits = 1): string {
  return `HKA ${hkaText(deviation, digits)}`;
}

export function judgementText(metric: string, status: string, crossesBoundary = false): string {
  let word: string;
  if (status === "low" || status === "high") {
    word = metric === "hka_deviation_deg" ? (status === "low" ? "varus" : "valgus") : status;
  } else if (status === "normal") {
    word = "normal";
  } else {
    return "—";
  }
  return crossesBoundary ? `${word}, borderline` : word;
}

/** "Right leg (image left)"; without a patient side "Leg on the image left". */
export function legSideTitle(anatomicalSide: string | null | undefined, imageSide: string | null | undefined, withImageSide = true): string {
  if (anatomicalSide === "right" || anatomicalSide === "left") {
    const title = `${anatomicalSide[0].toUpperCase()}${anatomicalSide.slice(1)} leg`;
    return withImageSide && (imageSide === "left" || imageSide === "right") ? `${title} (image ${imageSide})` : title;
  }
  if (imageSide === "left" || imageSide === "right") return `Leg on the image ${imageSide}`;
  return "Leg";
}

/** "812.4 mm" or "4012 px". */
export function lengthText(value: number, unit: string | undefined): string {
  return unit === "mm" ? `${fixed(value, 1)} mm` : `${fixed(value, 0)} px`;
}

/** Leg-length difference, right minus left: "8.0 mm, right longer" / "equal". */
export function lldText(rightMinusLeft: number, unit: string | undefined): string {
  const magnitude = lengthText(Math.abs(rightMinusLeft), unit);
  if (Number(fixed(Math.abs(rightMinusLeft), unit === "mm" ? 1 : 0)) === 0) return `${magnitude}, equal`;
  return `${magnitude}, ${rightMinusLeft > 0 ? "right" : "left"} longer`;
}

export interface SidedLeg {
  image_side?: string | null;
  anatomical_side?: string | null;
}

const SIDE_PREFIX = /^(left|right|image-left|image-right)\s*:\s*([\s\S]*)$/;

/** The leg localiser's flags in words (the code stays in the stored result); a code followed by a note,
 * e.g. "side_from_dicom_laterality (the image looked like a left leg)", keeps the note. */
const FLAG_WORDS: Readonly<Record<string, string>> = {
  side_from_display_convention: "sides read from the standard AP display (patient's right on the image left): check the side marker",
  side_from_dicom_patient_orientation: "sides read from the DICOM patient orientation",
  side_from_dicom_laterality: "side read from the DICOM laterality tag",
  side_uncertain: "patient side uncertain: check the side marker",
  leg_low_confidence: "a leg was found with low confidence: check that it is a leg",
};

function flagWords(flag: string): string {
  const code = /^[a-z_]+/.exec(flag)?.[0] ?? "";
  const words = FLAG_WORDS[code];
  return words === undefined ? flag : words + flag.slice(code.length);
}

/** A flag with its image-side prefix ("left: …") said as the patient's side ("right leg (image left): …"),
 * the leg localiser's codes in words. */
export function patientSideFlag(flag: string, legs: readonly SidedLeg[]): string {
  const match = SIDE_PREFIX.exec(flag);
  if (!match) return flagWords(flag);
  const imageSide = match[1].replace(/^image-/, "");
  const anatomical = legs.find((leg) => leg.image_side === imageSide)?.anatomical_side ?? null;
  return `${legSideTitle(anatomical, imageSide).toLowerCase()}: ${match[2]}`;
}

/** The first "outside intended use" flag, if any. */
export function outsideIntendedUse(flags: readonly unknown[] | null | undefined): string | null {
  const hit = (flags ?? []).map(String).find((f) => f.includes(OUTSIDE_INTENDED_USE));
  return hit ?? null;
}
