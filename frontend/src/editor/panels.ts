/** Side-panel sections of the editor: label chooser, SAM assist, layers, shape list. */

import { describeShape } from "../core/edits";
import { BONES, JOINTS } from "../core/labelme";
import { groupTitle } from "../core/legSides";
import { clear, h } from "../ui/dom";
import { colourFor } from "./overlay";
import type { SamController } from "./sam";
import type { EditorStore } from "./store";

export function section(id: string, title: string, body: HTMLElement, open = true): HTMLDetailsElement {
  return h("details", { class: "panel", id: `${id}-section`, open }, h("summary", {}, title), body);
}

function radio(name: string, value: string, checked: boolean, text: string, onchange: () => void, colour?: string): HTMLLabelElement {
  return h("label", { class: "chip", style: colour ? `--chip:${colour}` : undefined },
    h("input", { type: "radio", name, value, id: `${name}-${value}`, checked, onchange }), text);
}

/** Bone (polygon tool, SAM), joint (point tool) and leg (group_id) of what is drawn next. */
export function renderLabelChooser(container: HTMLElement, store: EditorStore): void {
  clear(container);
  const { bone, joint, leg } = store.label;
  container.append(
    h("div", { class: "chooser-row" }, h("span", { class: "chooser-title" }, "Bone"),
      ...BONES.map((b) => radio("label-bone", b, b === bone, b, () => store.setLabel({ bone: b }), colourFor(b)))),
    h("div", { class: "chooser-row" }, h("span", { class: "chooser-title" }, "Joint"),
      ...JOINTS.map((j) => radio("label-joint", j, j === joint, j, () => store.setLabel({ joint: j }), colourFor(j)))),
    h("div", { class: "chooser-row" }, h("span", { class: "chooser-title" }, "Leg"),
      ...[0, 1].map((l) => {
        const title = groupTitle(store.doc, l, store.alignment);
        const chip = radio("label-leg", String(l), l === leg, title.text, () => store.setLabel({ leg: l }));
        chip.title = title.hint;
        return chip;
      })),
    h("p", { class: "muted small" }, "The patient's side (on a standard AP film the right leg is on the image left). Keys: F femur, T tibia, H/K/A joint, 1/2 leg."),
  );
}

/** The SAM assist section: built once (so the detail slider survives updates), refreshed in place. */
export class SamPanel {
  private readonly status = h("p", { id: "sam-status", class: "small" });
  private readonly message = h("p", { class: "error", id: "sam-message", hidden: true });
  private readonly unavailable = h("p", { class: "error", id: "sam-unavailable", hidden: true });
  private readonly models = h("div", { class: "sam-models" });
  private readonly target = h("strong");
  private readonly toleranceText = h("span", { class: "muted" });
  private readonly acceptButton: HTMLButtonElement;
  private modelsShown = "";

  constructor(readonly container: HTMLElement, private readonly store: EditorStore, private readonly sam: SamController, onAccept: () => void) {
    const tolerance = h("input", {
      type: "range", id: "sam-tolerance", min: 0.5, max: 10, step: 0.5, value: store.sam.tolerance,
      oninput: (e: Event) => sam.setTolerance(Number((e.target as HTMLInputElement).value)),
    });
    this.acceptButton = h("button", { type: "button", id: "sam-accept", class: "primary", onclick: onAccept }, "Accept (Enter)");
    container.append(
      this.models,
      this.unavailable,
      h("label", { class: "field" }, "Polygon detail ", tolerance, this.toleranceText),
      h("p", { class: "muted small" }, "Click: include · Shift/Alt/right-click: exclude · drag: box. Enter accepts as ",
        this.target, "; Esc clears; Backspace removes the last prompt."),
      this.status,
      this.message,
      h("div", { class: "button-row" }, this.acceptButton, h("button", { type: "button", id: "sam-clear", onclick: () => sam.clear() }, "Clear (Esc)")),
    );
    this.update();
  }

  update(): void {
    const state = this.store.sam;
    const models = this.sam.models?.models ?? [];
    const key = JSON.stringify([models, state.model]);
    if (key !== this.modelsShown) {
      this.modelsShown = key;
      clear(this.models);
      if (models.length > 1) {
        this.models.append(h("label", { class: "field" }, "Model ",
          h("select", { id: "sam-model", onchange: (e: Event) => this.sam.setModel((e.target as HTMLSelectElement).value) },
            ...models.map((m) => h("option", { value: m.name, selected: m.name === state.model }, `${m.name}${m.available ? "" : " (unavailable)"}`)))));
      } else if (models.length === 1) {
        this.models.append(h("p", { class: "small" }, `Model: ${models[0].name}`));
      }
    }
    this.unavailable.hidden = !this.sam.unavailable;
    this.unavailable.textContent = this.sam.unavailable ?? "";
    this.toleranceText.textContent = ` ${state.tolerance} px tolerance`;
    this.target.textContent = `${this.store.label.bone}, ${groupTitle(this.store.doc, this.store.label.leg, this.store.alignment).text.toLowerCase()}`;
    this.status.textContent = state.busy ? "Segmenting…" : state.info ?? (this.sam.hasPrompt ? "" : "No prompt yet.");
    this.message.hidden = !state.error;
    this.message.textContent = state.error ?? "";
    this.acceptButton.disabled = !state.polygons.length || state.busy;
  }
}

export function renderLayersPanel(container: HTMLElement, store: EditorStore, workingTitle: string,
  emptyNote = "No model prediction for this image yet."): void {
  clear(container);
  const toggle = (id: string, title: string, checked: boolean, onchange: (on: boolean) => void, colour?: string) =>
    h("label", { class: "layer-toggle" },
      h("input", { type: "checkbox", id: `layer-${id}`, checked, onchange: (e: Event) => onchange((e.target as HTMLInputElement).checked) }),
      colour ? h("span", { class: "swatch", style: `background:${colour}` }) : null, title);
  container.append(
    toggle("working", workingTitle, store.workingVisible, (on) => {
      store.workingVisible = on;
      store.emit("layers");
    }),
    toggle("angles", "Angles overlay", store.anglesVisible, (on) => {
      store.anglesVisible = on;
      store.emit("layers");
    }),
    ...store.layers.map((layer) => toggle(layer.id, layer.title, layer.visible, (on) => {
      layer.visible = on;
      store.emit("layers");
    }, layer.colour)),
  );
  if (!store.layers.length) container.append(h("p", { class: "muted small" }, emptyNote));
}

export function renderShapesPanel(container: HTMLElement, store: EditorStore, onDelete: (uid: string) => void): void {
  clear(container);
  if (!store.doc.shapes.length) {
    container.append(h("p", { class: "muted small" }, "No shapes yet: draw with P (polygon), J (joint point) or S (SAM)."));
    return;
  }
  const list = h("ul", { class: "shape-list", id: "shape-list" });
  for (const shape of store.doc.shapes) {
    const selected = shape.uid === store.selection.uid;
    list.append(h("li", { class: selected ? "selected" : "", "data-uid": shape.uid },
      h("button", { type: "button", class: "link", onclick: () => store.select(shape.uid) },
        h("span", { class: "swatch", style: `background:${colourFor(shape.label)}` }),
        describeShape(shape, (group) => groupTitle(store.doc, group, store.alignment).text.toLowerCase())),
      h("button", { type: "button", class: "icon", title: "Delete shape", "aria-label": `Delete ${shape.label}`, onclick: () => onDelete(shape.uid) }, "✕"),
    ));
  }
  container.append(list);
}
