/**
 * Keyboard shortcuts: one table drives both the key handling and the `?` help overlay. Keys are
 * matched on `KeyboardEvent.key` (layout-aware) with Ctrl/Cmd and Shift as modifiers. Typing in a
 * text field never triggers a shortcut (except Escape, which leaves the field).
 */

import { h } from "../ui/dom";

export interface Shortcut {
  keys: string[];
  /** Shown in the help overlay, e.g. "Ctrl+Shift+Z". */
  label: string;
  description: string;
  group: "Tools" | "Labels" | "Edit" | "View" | "Review";
  ctrl?: boolean;
  shift?: boolean;
  run: (e: KeyboardEvent) => void;
}

export function matches(s: Shortcut, e: KeyboardEvent): boolean {
  const ctrl = e.ctrlKey || e.metaKey;
  if (Boolean(s.ctrl) !== ctrl) return false;
  if (s.shift !== undefined && s.shift !== e.shiftKey) return false;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  return s.keys.includes(key);
}

function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) return !["checkbox", "radio", "range", "button"].includes(target.type);
  return false;
}

export function installShortcuts(shortcuts: Shortcut[], onSpace: (down: boolean) => void): () => void {
  const down = (e: KeyboardEvent) => {
    if (isTyping(e.target)) {
      if (e.key === "Escape") (e.target as HTMLElement).blur();
      return;
    }
    if (document.querySelector("dialog[open]")) return;
    if (e.key === " ") {
      onSpace(true);
      e.preventDefault();
      return;
    }
    for (const s of shortcuts) {
      if (matches(s, e)) {
        e.preventDefault();
        s.run(e);
        return;
      }
    }
  };
  const up = (e: KeyboardEvent) => {
    if (e.key === " ") onSpace(false);
  };
  window.addEventListener("keydown", down);
  window.addEventListener("keyup", up);
  window.addEventListener("blur", () => onSpace(false));
  return () => {
    window.removeEventListener("keydown", down);
    window.removeEventListener("keyup", up);
  };
}

/** Mouse gestures, listed in the help overlay next to the keys. */
export const MOUSE_HELP: [string, string][] = [
  ["Wheel", "Zoom around the cursor"],
  ["Space + drag, middle drag", "Pan (in Select: drag on empty image)"],
  ["Right drag", "Window (left/right) and level (up/down)"],
  ["Select: drag vertex / shape", "Move a vertex, a joint, or a whole outline"],
  ["Select: double-click an edge", "Insert a vertex there"],
  ["Polygon: click … Enter / double-click", "Add vertices, close the outline"],
  ["SAM: click / Shift-, Alt- or right-click / drag", "Positive point / negative point / box"],
  ["Calibrate: click, click", "Both ends of a ruler or of an object of known size"],
];

export function toggleHelp(shortcuts: Shortcut[]): void {
  const existing = document.getElementById("help-overlay");
  if (existing) {
    existing.remove();
    return;
  }
  const groups = new Map<string, Shortcut[]>();
  for (const s of shortcuts) groups.set(s.group, [...(groups.get(s.group) ?? []), s]);
  const close = () => overlay.remove();
  const overlay = h("div", { id: "help-overlay", class: "help-overlay", role: "dialog", "aria-label": "Keyboard shortcuts", onclick: (e: Event) => {
    if (e.target === overlay) close();
  } },
    h("div", { class: "help-card" },
      h("div", { class: "help-head" }, h("h2", {}, "Keyboard shortcuts"), h("button", { type: "button", class: "close", onclick: close, "aria-label": "Close" }, "×")),
      h("div", { class: "help-columns" },
        ...[...groups.entries()].map(([group, list]) =>
          h("section", {}, h("h3", {}, group), h("dl", {}, ...list.flatMap((s) => [h("dt", {}, h("kbd", {}, s.label)), h("dd", {}, s.description)])))),
        // The mouse list spans the whole card: its gestures are long and would squeeze the descriptions
        // to a word per line in a grid column (issue 16, item 10).
        h("section", { class: "help-mouse" }, h("h3", {}, "Mouse"), h("dl", {}, ...MOUSE_HELP.flatMap(([k, d]) => [h("dt", {}, h("kbd", {}, k)), h("dd", {}, d)]))),
      ),
      h("p", { class: "muted" }, "Press ? or Esc to close."),
    ),
  );
  document.body.append(overlay);
}
