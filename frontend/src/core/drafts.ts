/**
 * Autosaved drafts in localStorage, one per image (and per review item), so that a closed tab, a
 * crash or a conflicting save never loses a drawing. A draft remembers the revision it was based
 * on; it is removed after a successful save.
 */

export interface Draft {
  /** The head revision the edit started from (null: the image had none). */
  base_revision: number | null;
  /** LabelMe JSON of the working document. */
  document: Record<string, unknown>;
  saved_at: string;
  /** Whether a SAM polygon was accepted into it (saved as source sam_assisted). */
  sam_assisted?: boolean;
}

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function draftKey(imageId: number, scope = "edit"): string {
  return `enllasd:draft:${scope}:${imageId}`;
}

export class DraftStore {
  constructor(private readonly store: KeyValueStore | null) {}

  load(key: string): Draft | null {
    if (!this.store) return null;
    try {
      const text = this.store.getItem(key);
      if (!text) return null;
      const draft = JSON.parse(text) as Draft;
      return draft && typeof draft === "object" && draft.document ? draft : null;
    } catch {
      return null;
    }
  }

  save(key: string, draft: Draft): boolean {
    if (!this.store) return false;
    try {
      this.store.setItem(key, JSON.stringify(draft));
      return true;
    } catch {
      return false; // quota exceeded or storage disabled: the editor keeps working
    }
  }

  clear(key: string): void {
    try {
      this.store?.removeItem(key);
    } catch {
      // storage disabled
    }
  }
}

export function browserStore(): KeyValueStore | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}
