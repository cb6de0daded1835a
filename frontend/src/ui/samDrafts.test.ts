import { afterEach, describe, expect, it, vi } from "vitest";
import { setFetch } from "../api/http";
import type { PrelabelJob } from "../api/types";
import { enhanceSamDrafts, prelabelSummary } from "./samDrafts";

afterEach(() => setFetch((...args) => fetch(...args)));

const job = (overrides: Partial<PrelabelJob>): PrelabelJob => ({
  id: 7, status: "running", model: "litemedsam", total: 4, done: 1, skipped: 1, failed: 0, errors: {}, error: "",
  ...overrides,
});

describe("SAM drafts on the case page", () => {
  it("says where the job is and why an image failed", () => {
    expect(prelabelSummary(job({ status: "queued" }))).toBe("Queued on the SAM worker (4 images)…");
    expect(prelabelSummary(job({ status: "queued", total: 1 }))).toBe("Queued on the SAM worker (1 image)…"); // not "(1 images)"
    expect(prelabelSummary(job({}))).toBe("Drafting outlines with litemedsam: 1 drafted, 1 already labelled, 0 failed of 4…");
    expect(prelabelSummary(job({ status: "succeeded", done: 2, failed: 1, errors: { "12": "no prompts: no prediction" } })))
      .toBe("Drafting succeeded: 2 drafted, 1 already labelled, 1 failed of 4. First problem: no prompts: no prediction");
    expect(prelabelSummary(job({ status: "failed", error: "LiteMedSAM is not installed" })))
      .toBe("Drafting failed: LiteMedSAM is not installed");
  });

  it("starts one job for the case, polls it to the end and reloads when something was drafted", async () => {
    const states = [job({ status: "queued" }), job({}), job({ status: "succeeded", done: 3 })];
    const calls: Array<[string, string | undefined]> = [];
    setFetch((async (url: string, init?: RequestInit) => {
      calls.push([url, init?.body as string | undefined]);
      const body = url === "/api/sam/prelabel/" ? { job: 7 } : states.shift();
      return new Response(JSON.stringify(body), { status: url === "/api/sam/prelabel/" ? 202 : 200 });
    }) as unknown as typeof fetch);
    let click: () => Promise<void> = async () => {};
    const button = { disabled: false, addEventListener: (_: string, fn: () => Promise<void>) => { click = fn; } };
    const output = { textContent: "" };
    const reloaded = vi.fn();
    enhanceSamDrafts(button as unknown as HTMLButtonElement, output as unknown as HTMLElement, 3,
      { pollMs: 1, onFinished: reloaded });
    await click();
    expect(calls[0]).toEqual(["/api/sam/prelabel/", '{"case_ids":[3]}']);
    expect(calls.slice(1).map(([url]) => url)).toEqual(["/api/sam/prelabel/7/", "/api/sam/prelabel/7/", "/api/sam/prelabel/7/"]);
    expect(output.textContent).toBe("Drafting succeeded: 3 drafted, 1 already labelled, 0 failed of 4.");
    expect(reloaded).toHaveBeenCalledOnce();
    expect(button.disabled).toBe(false);
  });

  it("shows the server's message when the job cannot start, and does not reload", async () => {
    setFetch((async () => new Response(JSON.stringify({ message: "SAM checkpoint missing", extra: {} }), { status: 503 })) as unknown as typeof fetch);
    let click: () => Promise<void> = async () => {};
    const button = { disabled: false, addEventListener: (_: string, fn: () => Promise<void>) => { click = fn; } };
    const output = { textContent: "" };
    const reloaded = vi.fn();
    enhanceSamDrafts(button as unknown as HTMLButtonElement, output as unknown as HTMLElement, 3, { onFinished: reloaded });
    await click();
    expect(output.textContent).toBe("SAM checkpoint missing");
    expect(reloaded).not.toHaveBeenCalled();
  });
});
