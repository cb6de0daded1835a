/**
 * The case page's "Draft outlines with SAM" button: one batch pre-labelling job for the case (images
 * that already have a revision are skipped by the job), its progress polled until it ends; when it
 * drafted anything the page reloads so the new sam_assisted revisions show.
 */

import { api } from "../api/endpoints";
import { ApiError } from "../api/http";
import type { PrelabelJob } from "../api/types";

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

/** One line a person reads: where the job is and what it did. */
export function prelabelSummary(job: PrelabelJob): string {
  const counts = `${job.done} drafted, ${job.skipped} already labelled, ${job.failed} failed of ${job.total}`;
  if (job.status === "queued") return `Queued on the SAM worker (${job.total} image${job.total === 1 ? "" : "s"})…`;
  if (job.status === "running") return `Drafting outlines with ${job.model}: ${counts}…`;
  if (job.status === "failed" && job.error) return `Drafting failed: ${job.error}`;
  const reasons = Object.values(job.errors);
  const why = reasons.length ? ` First problem: ${reasons[0]}` : "";
  return `Drafting ${job.status}: ${counts}.${why}`;
}

export function enhanceSamDrafts(
  button: HTMLButtonElement,
  output: HTMLElement,
  caseId: number,
  { pollMs = 1500, onFinished = () => window.location.reload() } = {},
): void {
  button.addEventListener("click", async () => {
    button.disabled = true;
    output.textContent = "Starting…";
    try {
      const { job } = await api.prelabelStart({ case_ids: [caseId] });
      let state = await api.prelabelJob(job);
      output.textContent = prelabelSummary(state);
      while (!FINISHED.has(state.status)) {
        await new Promise((resolve) => setTimeout(resolve, pollMs));
        state = await api.prelabelJob(job);
        output.textContent = prelabelSummary(state);
      }
      if (state.status === "succeeded" && state.done > 0) onFinished();
    } catch (error) {
      output.textContent = error instanceof ApiError ? error.message : String(error);
    } finally {
      button.disabled = false;
    }
  });
}
