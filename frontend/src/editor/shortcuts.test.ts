import { describe, expect, it } from "vitest";
import { matches, type Shortcut } from "./shortcuts";

const make = (s: Partial<Shortcut>): Shortcut => ({ keys: ["z"], label: "", description: "", group: "Edit", run: () => undefined, ...s });
const key = (k: string, mods: Partial<KeyboardEvent> = {}) => ({ key: k, ctrlKey: false, metaKey: false, shiftKey: false, ...mods }) as KeyboardEvent;

describe("shortcut matching", () => {
  it("separates Ctrl+Z (undo) from Ctrl+Shift+Z (redo) and plain Z", () => {
    const undo = make({ ctrl: true, shift: false });
    const redo = make({ ctrl: true, shift: true });
    expect(matches(undo, key("z", { ctrlKey: true }))).toBe(true);
    expect(matches(redo, key("z", { ctrlKey: true }))).toBe(false);
    expect(matches(redo, key("Z", { ctrlKey: true, shiftKey: true }))).toBe(true);
    expect(matches(undo, key("z", { metaKey: true }))).toBe(true); // Cmd on a Mac
    expect(matches(undo, key("z"))).toBe(false);
  });

  it("plain keys ignore case and do not fire with Ctrl", () => {
    const polygon = make({ keys: ["p"] });
    expect(matches(polygon, key("P", { shiftKey: true }))).toBe(true);
    expect(matches(polygon, key("p", { ctrlKey: true }))).toBe(false);
    expect(matches(make({ keys: ["?"] }), key("?", { shiftKey: true }))).toBe(true);
    expect(matches(make({ keys: ["Delete", "Backspace"], shift: false }), key("Backspace"))).toBe(true);
  });
});
