import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { debounce, LatestOnly } from "./debounce";

describe("debounce", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("runs once, after the last call, with the last arguments", () => {
    const fn = vi.fn();
    const d = debounce(fn, 250);
    d(1);
    vi.advanceTimersByTime(200);
    d(2);
    vi.advanceTimersByTime(200);
    d(3);
    expect(fn).not.toHaveBeenCalled();
    expect(d.pending).toBe(true);
    vi.advanceTimersByTime(250);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(fn).toHaveBeenCalledWith(3);
    expect(d.pending).toBe(false);
  });

  it("flush runs a pending call now; cancel drops it", () => {
    const fn = vi.fn();
    const d = debounce(fn, 250);
    d("a");
    d.flush();
    expect(fn).toHaveBeenCalledWith("a");
    d("b");
    d.cancel();
    vi.advanceTimersByTime(1000);
    expect(fn).toHaveBeenCalledTimes(1);
    d.flush(); // nothing pending: no call
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe("LatestOnly", () => {
  it("drops answers of requests overtaken by a newer one", async () => {
    const latest = new LatestOnly();
    let resolveSlow!: (v: string) => void;
    const slow = latest.run(() => new Promise<string>((r) => (resolveSlow = r)));
    const fast = latest.run(async () => "fast");
    expect(await fast).toBe("fast");
    resolveSlow("slow");
    expect(await slow).toBeUndefined();
  });

  it("swallows the failure of a stale request but reports a current one", async () => {
    const latest = new LatestOnly();
    const stale = latest.run(() => Promise.reject(new Error("old")));
    latest.invalidate();
    await expect(stale).resolves.toBeUndefined();
    await expect(latest.run(() => Promise.reject(new Error("now")))).rejects.toThrow("now");
  });
});
