/**
 * Saving without ever losing a drawing:
 *  - every edit is autosaved as a draft in localStorage (per image, or per review item);
 *  - Save posts a new revision on top of the revision the edit started from;
 *  - a 409 (someone saved first) opens a dialog: "Reload theirs" (an undoable edit: Ctrl+Z brings
 *    the drawing back, and a backup draft is kept) or "Keep mine on top of theirs" (three-way merge,
 *    core/merge.ts, then the same request again with their revision as the new base).
 */

import { api } from "../api/endpoints";
import { ApiError } from "../api/http";
import type { HeadSummary, RevisionInfo } from "../api/types";
import { debounce } from "../core/debounce";
import { browserStore, DraftStore, type Draft } from "../core/drafts";
import { buildDocument, cloneDocument, emptyDocument, parseDocument, type Doc } from "../core/labelme";
import { mergeOnTop, sameContent } from "../core/merge";
import { h, toast } from "../ui/dom";
import type { EditorStore } from "./store";

export interface ConflictChoice {
  id: string;
  label: string;
  primary?: boolean;
  run: () => void | Promise<void>;
}

/** A modal dialog about a conflicting head revision; resolves when a button was chosen. */
export function showConflictDialog(head: HeadSummary | null, intro: string, choices: ConflictChoice[]): Promise<string> {
  document.getElementById("conflict-dialog")?.remove();
  return new Promise((resolve) => {
    const who = head ? `r${head.number} by ${head.author ?? "someone"}${head.created_at ? ` at ${new Date(head.created_at).toLocaleTimeString()}` : ""}` : "a newer revision";
    const dialog = h("dialog", { id: "conflict-dialog", class: "dialog", "aria-labelledby": "conflict-title" },
      h("h2", { id: "conflict-title" }, "Someone saved first"),
      h("p", {}, `${intro} The image now has ${who}.`),
      h("p", { class: "muted" }, "Your drawing is not lost: it stays in this editor and in a local draft whatever you choose."),
    );
    const buttons = h("div", { class: "dialog-buttons" });
    for (const choice of choices) {
      buttons.append(h("button", {
        type: "button", id: `conflict-${choice.id}`, class: choice.primary ? "primary" : "",
        onclick: async () => {
          dialog.close();
          dialog.remove();
          resolve(choice.id);
          await choice.run();
        },
      }, choice.label));
    }
    dialog.append(buttons);
    dialog.addEventListener("cancel", () => {
      dialog.remove();
      resolve("cancel");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export class SaveController {
  readonly drafts = new DraftStore(browserStore());
  private readonly autosave = debounce(() => this.writeDraft(), 400);
  saving = false;

  constructor(
    private readonly store: EditorStore,
    private readonly draftKey: () => string | null,
    private readonly imageId: () => number | null,
  ) {
    store.on("doc", () => this.autosave());
    window.addEventListener("beforeunload", () => this.autosave.flush());
  }

  get dirty(): boolean {
    return !sameContent(this.store.doc, this.store.baseDoc ?? emptyDocument({ width: this.store.imageWidth, height: this.store.imageHeight }));
  }

  private writeDraft(): void {
    const key = this.draftKey();
    if (!key) return;
    if (!this.dirty) {
      this.drafts.clear(key);
      return;
    }
    const draft: Draft = {
      base_revision: this.store.baseRevision,
      document: buildDocument(this.store.doc),
      saved_at: new Date().toISOString(),
      sam_assisted: this.store.samAssisted,
    };
    this.drafts.save(key, draft);
  }

  clearDraft(): void {
    this.autosave.cancel();
    const key = this.draftKey();
    if (key) this.drafts.clear(key);
  }

  /** Keep a copy of the working document under a backup key before it is replaced. */
  backup(): void {
    const key = this.draftKey();
    if (!key) return;
    this.drafts.save(`${key}:backup`, {
      base_revision: this.store.baseRevision, document: buildDocument(this.store.doc), saved_at: new Date().toISOString(),
    });
  }

  /** Save the working document as a new revision (edit mode). */
  async save(): Promise<RevisionInfo | null> {
    const store = this.store;
    if (this.saving) return null;
    this.saving = true;
    store.emit("saved");
    try {
      const imageId = this.imageId();
      if (imageId === null) throw new Error("no image loaded");
      const revision = await api.createRevision(imageId, {
        base_revision: store.baseRevision,
        document: buildDocument(store.doc),
        source: store.samAssisted ? "sam_assisted" : "manual",
      });
      this.markSaved(revision.id, revision.number);
      toast(`Saved as revision r${revision.number}.`, "ok");
      return revision;
    } catch (error) {
      if (error instanceof ApiError && error.isConflict) {
        this.saving = false;
        await this.resolveConflict(error, "You were editing an older revision.", () => this.save().then(() => undefined));
        return null;
      }
      toast(`Not saved: ${(error as Error).message}. Your drawing is kept as a local draft.`, "error");
      return null;
    } finally {
      this.saving = false;
      store.emit("saved");
    }
  }

  /** After a successful write: the working document is the new base. */
  markSaved(revisionId: number | null, revisionNumber: number | null): void {
    const store = this.store;
    store.baseRevision = revisionId;
    store.baseRevisionNumber = revisionNumber;
    store.baseDoc = cloneDocument(store.doc);
    store.samAssisted = false;
    this.clearDraft();
    store.emit("saved");
  }

  /** The 409 dialog; `retry` re-sends the request after "keep mine on top of theirs". */
  async resolveConflict(error: ApiError, intro: string, retry: () => Promise<void>, options: { keepLabel?: string; merge?: boolean } = {}): Promise<string> {
    const store = this.store;
    const head = (error.extra?.head_revision ?? null) as HeadSummary | null;
    const theirs: Doc | null = head?.document
      ? parseDocument(head.document, { width: store.imageWidth, height: store.imageHeight })
      : null;
    this.autosave.flush();
    return showConflictDialog(head, intro, [
      {
        id: "reload",
        label: "Reload theirs",
        run: () => {
          this.backup();
          const doc = theirs ?? emptyDocument({ width: store.imageWidth, height: store.imageHeight });
          store.commit(doc); // undoable: Ctrl+Z brings the drawing back
          store.baseRevision = head?.id ?? null;
          store.baseRevisionNumber = head?.number ?? null;
          store.baseDoc = cloneDocument(doc);
          store.emit("saved");
          toast(`Loaded r${head?.number ?? "?"}. Ctrl+Z brings your drawing back (a backup draft is kept too).`, "info");
        },
      },
      {
        id: "keep-mine",
        label: options.keepLabel ?? "Keep mine on top of theirs",
        primary: true,
        run: async () => {
          if (options.merge === false) {
            store.baseRevision = head?.id ?? null;
            store.baseRevisionNumber = head?.number ?? null;
            await retry();
            return;
          }
          const merged = mergeOnTop(store.baseDoc, store.doc, theirs);
          store.commit(merged.document);
          store.baseRevision = head?.id ?? null;
          store.baseRevisionNumber = head?.number ?? null;
          store.baseDoc = theirs ? cloneDocument(theirs) : null;
          if (merged.conflicts.length) toast(`Both of you changed: ${merged.conflicts.join(", ")} — yours were kept.`, "info");
          await retry();
        },
      },
      { id: "cancel", label: "Not now", run: () => toast("Not saved yet: your drawing is kept as a local draft.", "info") },
    ]);
  }
}
