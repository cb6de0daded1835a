import { describe, expect, it } from "vitest";
import { History } from "./history";

describe("History (undo/redo)", () => {
  it("undoes and redoes in order", () => {
    const h = new History("a");
    h.push("b");
    h.push("c");
    expect(h.current).toBe("c");
    expect(h.undo()).toBe("b");
    expect(h.undo()).toBe("a");
    expect(h.undo()).toBeUndefined();
    expect(h.canUndo).toBe(false);
    expect(h.redo()).toBe("b");
    expect(h.redo()).toBe("c");
    expect(h.redo()).toBeUndefined();
  });

  it("a new edit after undo drops the redo branch", () => {
    const h = new History(0);
    h.push(1);
    h.push(2);
    h.undo();
    h.push(3);
    expect(h.canRedo).toBe(false);
    expect(h.current).toBe(3);
    expect(h.undo()).toBe(1);
  });

  it("forgets the oldest states beyond the limit", () => {
    const h = new History(0, 3);
    for (let i = 1; i <= 5; i++) h.push(i);
    expect(h.depth).toBe(2);
    expect(h.undo()).toBe(4);
    expect(h.undo()).toBe(3);
    expect(h.undo()).toBeUndefined();
  });

  it("replace changes the current state without an undo step; reset starts over", () => {
    const h = new History("x");
    h.push("y");
    h.replace("y2");
    expect(h.undo()).toBe("x");
    expect(h.redo()).toBe("y2");
    h.reset("z");
    expect(h.canUndo || h.canRedo).toBe(false);
    expect(h.current).toBe("z");
  });
});
