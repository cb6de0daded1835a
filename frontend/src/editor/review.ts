/**
 * Review mode of the editor: the prediction is the working document; a reviewer decides with
 * Accept (as predicted), Correct (the edited document) or Reject (a reason is required). Other roles
 * see the item read-only. The item's event history is listed under the buttons.
 *
 * Approving is safe (issue 16, item 7): a prediction that fails a blocking check (the server's
 * `acceptance_blockers`) has no one-click Accept, only "Accept anyway…", which asks for the reason the
 * server records; after a decision the editor moves on to the next pending item; the flags shown are those
 * of the document on screen (`POST /api/review/items/<id>/checks/`), not the prediction's as it was queued.
 */

import { api, urls } from "../api/endpoints";
import { ApiError } from "../api/http";
import type { ReviewEvent, ReviewItem } from "../api/types";
import { patientSideFlag, type SidedLeg } from "../core/clinicalText";
import { buildDocument, type Doc } from "../core/labelme";
import { sameContent } from "../core/merge";
import { clear, h, toast } from "../ui/dom";
import type { SaveController } from "./save";
import type { EditorStore } from "./store";

const DECIDED = new Set(["accepted", "corrected", "rejected", "approved"]);
/** How long the decision's confirmation stays before the next item opens. */
export const NEXT_ITEM_DELAY_MS = 1200;
const CHECKS_DEBOUNCE_MS = 600;

/** The review item as the detail endpoint returns it, with the fields the decisions need. */
export type DecidableItem = ReviewItem & { acceptance_blockers?: string[]; next_item?: number | null };

export interface AcceptButton {
  label: string;
  /** "accept": one click; "override": ask for a reason first. */
  mode: "accept" | "override";
  disabled: boolean;
  title: string;
}

/** The Accept button of a pending item: one click only when the prediction passes every blocking check. */
export function acceptButton(item: DecidableItem, edited: boolean, busy = false): AcceptButton {
  const blockers = item.acceptance_blockers ?? [];
  if (edited) return { label: "Accept", mode: "accept", disabled: true, title: "You changed the prediction: use Correct" };
  if (blockers.length) {
    return { label: "Accept anyway…", mode: "override", disabled: busy,
      title: `This prediction fails ${blockers.length} check(s); correct or reject it, or give a reason to accept it anyway` };
  }
  return { label: "Accept", mode: "accept", disabled: busy, title: "Accept the prediction as it is" };
}

/** Where the reviewer goes after deciding: the next pending item, else the queue. */
export function nextAfterDecision(item: DecidableItem): string {
  return typeof item.next_item === "number" ? urls.reviewPage(item.next_item) : "/review/";
}

export function headRevisionId(item: ReviewItem): number | null {
  const head = item.head_revision;
  if (typeof head === "number") return head;
  if (head && typeof head === "object" && typeof head.id === "number") return head.id;
  return null;
}

export class ReviewController {
  readonly bar = h("div", { class: "review-bar", id: "review-bar" });
  readonly panel = h("div", { class: "review-panel", id: "review-panel" });
  private busy = false;
  private readonly checks = h("div", { id: "review-checks" });
  private checksTimer: ReturnType<typeof setTimeout> | null = null;
  private checksAbort: AbortController | null = null;

  constructor(
    private item: DecidableItem,
    private readonly store: EditorStore,
    private readonly save: SaveController,
    private readonly canReview: boolean,
    /** The prediction as loaded: "edited" means the working document differs from it. */
    private readonly predictionDoc: Doc,
  ) {
    store.on("doc", () => {
      this.renderBar();
      this.scheduleChecks();
    });
  }

  get status(): string {
    return this.item.status;
  }

  render(): void {
    this.renderBar();
    void this.renderPanel();
  }

  private renderBar(): void {
    clear(this.bar);
    const status = h("span", { class: `badge review-status status-${this.item.status}`, id: "review-status" }, this.item.status.replace("_", " "));
    this.bar.append(status);
    if (!this.canReview) {
      this.bar.append(h("span", { class: "muted", id: "review-readonly" }, "Only reviewers can accept, correct or reject."));
      return;
    }
    if (DECIDED.has(this.item.status)) {
      const next = nextAfterDecision(this.item);
      this.bar.append(h("a", { href: next, id: "review-next" }, next === "/review/" ? "Back to the queue" : "Next item →"));
      return;
    }
    const edited = !sameContent(this.store.doc, this.predictionDoc);
    const accept = acceptButton(this.item, edited, this.busy);
    this.bar.append(
      h("button", { type: "button", id: "review-accept", class: accept.mode === "override" ? "danger" : "primary",
        disabled: accept.disabled, title: accept.title,
        onclick: () => (accept.mode === "override" ? this.askOverride() : void this.accept()) }, accept.label),
      h("button", { type: "button", id: "review-correct", disabled: this.busy || !edited,
        title: edited ? "Save your corrections and approve" : "Edit the prediction first", onclick: () => void this.correct() }, "Correct"),
      h("button", { type: "button", id: "review-reject", class: "danger", disabled: this.busy, onclick: () => this.askReject() }, "Reject…"),
    );
  }

  private async renderPanel(): Promise<void> {
    clear(this.panel);
    const components = this.item.priority_components ?? {};
    const rows = Object.entries(components).filter(([, v]) => typeof v === "number");
    this.panel.append(
      h("p", { class: "small" }, `Priority ${typeof this.item.priority === "number" ? this.item.priority.toFixed(2) : "—"}`,
        rows.length ? ` (${rows.map(([k, v]) => `${k.replace(/_/g, " ")} ${(v as number).toFixed(2)}`).join(", ")})` : ""),
    );
    this.renderChecks(Array.isArray(this.item.flags) ? this.item.flags.map(String) : [],
      this.item.acceptance_blockers ?? [], "Flags of the prediction");
    this.panel.append(this.checks);
    this.scheduleChecks(0);
    const events = h("ol", { class: "events", id: "review-events" }, h("li", { class: "muted" }, "Loading history…"));
    this.panel.append(h("h4", {}, "History"), events);
    try {
      const list = await api.reviewEvents(this.item.image.id);
      clear(events);
      if (!list.length) events.append(h("li", { class: "muted" }, "No events."));
      for (const event of list) events.append(eventRow(event));
    } catch (error) {
      clear(events);
      events.append(h("li", { class: "error" }, `History unavailable: ${(error as Error).message}`));
    }
  }

  /** The flags (and, for a pending prediction, the accept blockers) of the document on screen. */
  private renderChecks(flags: string[], blockers: string[], heading: string): void {
    clear(this.checks);
    this.checks.append(h("h4", {}, heading));
    if (blockers.length && !DECIDED.has(this.item.status)) {
      this.checks.append(h("div", { class: "notice error", id: "review-blockers" },
        h("strong", {}, "Cannot be accepted as it is:"), h("ul", {}, ...blockers.map((b) => h("li", {}, b)))));
    }
    this.checks.append(flags.length
      ? h("ul", { class: "flags", id: "review-flags" }, ...flags.map((f) => h("li", {}, this.flagText(f))))
      : h("p", { class: "muted", id: "review-flags" }, "No flags."));
  }

  private scheduleChecks(delay = CHECKS_DEBOUNCE_MS): void {
    if (this.checksTimer !== null) clearTimeout(this.checksTimer);
    this.checksTimer = setTimeout(() => void this.refreshChecks(), delay);
  }

  private async refreshChecks(): Promise<void> {
    this.checksAbort?.abort();
    const abort = new AbortController();
    this.checksAbort = abort;
    const untouched = sameContent(this.store.doc, this.predictionDoc) && !DECIDED.has(this.item.status);
    const heading = untouched ? "Flags of the prediction" : "Flags of the outlines shown";
    try {
      const result = await api.reviewChecks(this.item.id, { document: buildDocument(this.store.doc) }, abort.signal);
      if (abort.signal.aborted) return;
      // The untouched prediction is accepted (or refused) on the server's own checks of it: keep them shown.
      const blockers = untouched ? [...new Set([...(this.item.acceptance_blockers ?? []), ...result.blockers])]
        : result.blockers;
      this.renderChecks(result.flags, blockers, heading);
    } catch (error) {
      if (abort.signal.aborted) return;
      this.checks.append(h("p", { class: "error" }, `Checks unavailable: ${(error as Error).message}`));
    }
  }

  /** Stored with the image side ("left: …"); read with the patient's side (issue 16, item 4). */
  private flagText(flag: string): string {
    const legs: SidedLeg[] = this.item.alignment?.legs ?? (Array.isArray(this.item.legs) ? this.item.legs as SidedLeg[] : []);
    return patientSideFlag(flag, legs);
  }

  private setItem(item: unknown, message: string): void {
    if (item && typeof item === "object" && "status" in item) this.item = { ...this.item, ...(item as DecidableItem) };
    this.save.markSaved(headRevisionId(this.item) ?? this.store.baseRevision, null);
    toast(message, "ok");
    this.render();
    if (DECIDED.has(this.item.status)) {
      const next = nextAfterDecision(this.item);
      setTimeout(() => window.location.assign(next), NEXT_ITEM_DELAY_MS);
    }
  }

  private async run(action: () => Promise<unknown>, done: string, retry: () => Promise<void>, keepLabel?: string): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.renderBar();
    try {
      const result = await action();
      this.busy = false;
      this.setItem(result, done);
    } catch (error) {
      this.busy = false;
      this.renderBar();
      if (error instanceof ApiError && error.isConflict && error.extra?.head_revision) {
        await this.save.resolveConflict(error, "Someone saved a revision of this image after you opened the item.", retry,
          keepLabel ? { keepLabel, merge: false } : {});
        return;
      }
      toast(`${(error as Error).message}`, "error");
    }
  }

  async accept(overrideReason?: string): Promise<void> {
    const body = overrideReason ? { base_revision: this.store.baseRevision, override_reason: overrideReason } : { base_revision: this.store.baseRevision };
    await this.run(() => api.reviewAccept(this.item.id, body), "Accepted: the prediction is now the image's revision.",
      () => this.accept(overrideReason), "Accept on top of theirs");
  }

  /** Accept a prediction that fails blocking checks: only with a reason, which the server records. */
  private askOverride(): void {
    const blockers = this.item.acceptance_blockers ?? [];
    askReason({ id: "override", title: "Accept a prediction that fails checks", confirm: "Accept anyway",
      placeholder: "Why is this prediction right despite the failed checks? (required; kept with the revision and in training snapshots)",
      intro: h("ul", { class: "flags" }, ...blockers.map((b) => h("li", {}, b))) },
    (text) => this.accept(text));
  }

  async correct(): Promise<void> {
    await this.run(() => api.reviewCorrect(this.item.id, { base_revision: this.store.baseRevision, document: buildDocument(this.store.doc) }),
      "Corrected: your version is now the image's revision.", () => this.correct());
  }

  private askReject(): void {
    askReason({ id: "reject", title: "Reject this prediction", confirm: "Reject", placeholder: "Why is this prediction rejected? (required)" },
      (text) => this.run(() => api.reviewReject(this.item.id, { reason: text }), "Rejected.", async () => undefined));
  }
}

/** A modal asking for a required reason (`#<id>-dialog`, `#<id>-reason`, `#<id>-confirm`, `#<id>-cancel`). */
function askReason(options: { id: string; title: string; confirm: string; placeholder: string; intro?: HTMLElement },
  onConfirm: (reason: string) => Promise<void>): void {
  const { id } = options;
  document.getElementById(`${id}-dialog`)?.remove();
  const reason = h("textarea", { id: `${id}-reason`, rows: 4, required: true, placeholder: options.placeholder });
  const confirm = h("button", { type: "button", id: `${id}-confirm`, class: "danger", disabled: true }, options.confirm);
  const dialog = h("dialog", { id: `${id}-dialog`, class: "dialog" },
    h("h2", {}, options.title), options.intro ?? null,
    h("label", { for: `${id}-reason` }, "Reason"), reason,
    h("div", { class: "dialog-buttons" }, h("button", { type: "button", id: `${id}-cancel`, onclick: () => dialog.close() }, "Cancel"), confirm));
  reason.addEventListener("input", () => {
    confirm.disabled = reason.value.trim() === "";
  });
  confirm.addEventListener("click", async () => {
    const text = reason.value.trim();
    if (!text) return;
    dialog.close();
    await onConfirm(text);
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  reason.focus();
}

function eventRow(event: ReviewEvent): HTMLLIElement {
  const action = event.action ?? event.kind ?? "event";
  const who = event.actor ?? event.user ?? "system";
  const when = event.created_at ? new Date(event.created_at).toLocaleString() : "";
  const reason = event.reason || event.note;
  return h("li", { class: `event event-${action}` },
    h("strong", {}, action), ` · ${who}`, when ? h("span", { class: "muted" }, ` · ${when}`) : null,
    event.revision ? h("span", { class: "muted" }, ` · revision ${event.revision}`) : null,
    reason ? h("div", { class: "reason" }, reason) : null);
}
