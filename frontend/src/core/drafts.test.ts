import { describe, expect, it } from "vitest";
import { DraftStore, draftKey, type KeyValueStore } from "./drafts";

class MemoryStore implements KeyValueStore {
  data = new Map<string, string>();
  full = false;
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    if (this.full) throw new Error("QuotaExceededError");
    this.data.set(k, v);
  }
  removeItem(k: string) {
    this.data.delete(k);
  }
}

describe("drafts", () => {
  it("saves, loads and clears per key", () => {
    const mem = new MemoryStore();
    const drafts = new DraftStore(mem);
    const key = draftKey(7);
    expect(key).toBe("enllasd:draft:edit:7");
    expect(drafts.load(key)).toBeNull();
    expect(drafts.save(key, { base_revision: 3, document: { shapes: [] }, saved_at: "now" })).toBe(true);
    expect(drafts.load(key)?.base_revision).toBe(3);
    expect(drafts.load(draftKey(7, "review"))).toBeNull();
    drafts.clear(key);
    expect(drafts.load(key)).toBeNull();
  });

  it("survives a full or missing storage and garbage", () => {
    const mem = new MemoryStore();
    mem.full = true;
    expect(new DraftStore(mem).save("k", { base_revision: null, document: {}, saved_at: "" })).toBe(false);
    mem.full = false;
    mem.data.set("bad", "{not json");
    expect(new DraftStore(mem).load("bad")).toBeNull();
    const none = new DraftStore(null);
    expect(none.load("k")).toBeNull();
    expect(none.save("k", { base_revision: null, document: {}, saved_at: "" })).toBe(false);
  });
});
