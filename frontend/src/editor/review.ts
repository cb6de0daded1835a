/**
 * Review mode of the editor: the prediction is the working document; a reviewer decides with
 * Accept (as predicted), Correct (the edited document) or Reject (a reason is required). Other roles
 * see the item read-only. The item's event history is listed under the buttons.
 */

import { api } from "../api/endpoints";
import { ApiError } from "../api/http";
import type { ReviewEvent, ReviewItem } from "../api/types";
import { buildDocument, type Doc } from "../core/labelme";
import { sameContent } from "../core/merge";
import { clear, h, toast } from "../ui/dom";
import type { SaveController } from "./save";
import type { EditorStore } from "./store";

const DECIDED = new Set(["accepted", "corrected", "rejected", "approved"]);

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

  constructor(
    private item: ReviewItem,
    private readonly store: EditorStore,
    private readonly save: SaveController,
    private readonly canReview: boolean,
    /** The prediction as loaded: "edited" means the working document differs from it. */
    private readonly predictionDoc: Doc,
  ) {
    store.on("doc", () => this.renderBar());
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
      this.bar.append(h("a", { href: "/review/" }, "Back to the queue"));
      return;
    }
    const edited = !sameContent(this.store.doc, this.predictionDoc);
    this.bar.append(
      h("button", { type: "button", id: "review-accept", class: "primary", disabled: this.busy || edited,
        title: edited ? "You changed the prediction: use Correct" : "Accept the prediction as it is", onclick: () => void this.accept() }, "Accept"),
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
    const flags = Array.isArray(this.item.flags) ? this.item.flags : [];
    if (flags.length) this.panel.append(h("ul", { class: "flags" }, ...flags.map((f) => h("li", {}, String(f)))));
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

  private setItem(item: unknown, message: string): void {
    if (item && typeof item === "object" && "status" in item) this.item = { ...this.item, ...(item as ReviewItem) };
    this.save.markSaved(headRevisionId(this.item) ?? this.store.baseRevision, null);
    toast(message, "ok");
    this.render();
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

  async accept(): Promise<void> {
    await this.run(() => api.reviewAccept(this.item.id, { base_revision: this.store.baseRevision }), "Accepted: the prediction is now the image's revision.",
      () => this.accept(), "Accept on top of theirs");
  }

  async correct(): Promise<void> {
    await this.run(() => api.reviewCorrect(this.item.id, { base_revision: this.store.baseRevision, document: buildDocument(this.store.doc) }),
      "Corrected: your version is now the image's revision.", () => this.correct());
  }

  private askReject(): void {
    document.getElementById("reject-dialog")?.remove();
    const reason = h("textarea", { id: "reject-reason", rows: 4, required: true, placeholder: "Why is this prediction rejected? (required)" });
    const confirm = h("button", { type: "button", id: "reject-confirm", class: "danger", disabled: true }, "Reject");
    const dialog = h("dialog", { id: "reject-dialog", class: "dialog" },
      h("h2", {}, "Reject this prediction"),
      h("label", { for: "reject-reason" }, "Reason"), reason,
      h("div", { class: "dialog-buttons" }, h("button", { type: "button", id: "reject-cancel", onclick: () => dialog.close() }, "Cancel"), confirm));
    reason.addEventListener("input", () => {
      confirm.disabled = reason.value.trim() === "";
    });
    confirm.addEventListener("click", async () => {
      const text = reason.value.trim();
      if (!text) return;
      dialog.close();
      await this.run(() => api.reviewReject(this.item.id, { reason: text }), "Rejected.", async () => undefined);
    });
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    reason.focus();
  }
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
