// Approving is safe (issue 16, item 7): the Accept button of a prediction that fails blocking checks asks for a
// reason, and a decision leads to the next pending item.
import { describe, expect, it } from "vitest";
import type { ReviewItem } from "../api/types";
import { acceptButton, type DecidableItem, nextAfterDecision } from "./review";

function item(extra: Partial<DecidableItem> = {}): DecidableItem {
  return { id: 7, status: "pending", priority: 1, image: { id: 3 } as ReviewItem["image"], ...extra };
}

describe("review decisions", () => {
  it("accepts a prediction without blockers with one click", () => {
    expect(acceptButton(item({ acceptance_blockers: [] }), false)).toEqual(
      { label: "Accept", mode: "accept", disabled: false, title: "Accept the prediction as it is" });
  });

  it("asks for a reason when the prediction fails blocking checks", () => {
    const button = acceptButton(item({ acceptance_blockers: ["Left leg: HKA deviation +118.7° is beyond any anatomy (limit ±45°)."] }), false);
    expect(button.mode).toBe("override");
    expect(button.label).toBe("Accept anyway…");
    expect(button.title).toContain("fails 1 check(s)");
  });

  it("never accepts an edited prediction (that is a correction)", () => {
    expect(acceptButton(item({ acceptance_blockers: ["x"] }), true)).toMatchObject({ mode: "accept", disabled: true });
  });

  it("moves on to the next pending item, or back to the queue when there is none", () => {
    expect(nextAfterDecision(item({ status: "accepted", next_item: 12 }))).toBe("/review/12/");
    expect(nextAfterDecision(item({ status: "rejected", next_item: null }))).toBe("/review/");
  });
});
