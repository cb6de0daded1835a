/**
 * The approval queue (/review/): `GET /api/review/items/` with filters, most uncertain first. Each
 * row shows the thumbnail, patient, date, priority (and what it is made of), the key metrics of
 * each leg with their spread, and flags; "Open" shows the editor in review mode.
 */

import { urls } from "../api/endpoints";
import { ApiError, getJson, query } from "../api/http";
import type { MetricJson, ReviewItem } from "../api/types";
import { hkaText, judgementText, legSideTitle, lengthText, lldText, outsideIntendedUse, patientSideFlag, type SidedLeg } from "../core/clinicalText";
import { classify, setNormalRanges, type NormalRangeTable } from "../core/normals";
import { clear, fmt, h } from "../ui/dom";
import { enhanceFilterForm, formValues } from "../ui/filters";

export interface QueueContext {
  user: { username: string; role: string; can_review: boolean };
  cohorts: { value: string; label: string }[];
  filters: Record<string, string>;
  /** The server's (adult) normal ranges. */
  normal_ranges?: NormalRangeTable;
}

export const REVIEW_STATUSES: [string, string][] = [
  ["pending", "Pending"],
  ["accepted", "Accepted"],
  ["corrected", "Corrected"],
  ["rejected", "Rejected"],
  ["all", "All"],
];

const KEY_METRICS: [string, string][] = [["hka_deviation_deg", "HKA"], ["mLDFA", "mLDFA"], ["MPTA", "MPTA"], ["leg_length", "Length"]];

export interface LegMetrics {
  /** The patient's side, the image side as a labelled hint: "Right leg (image left)". */
  side: string;
  image_side: string | null;
  anatomical_side: string | null;
  metrics: Record<string, MetricJson | null>;
}

function sideOf(leg: Record<string, unknown>): { image_side: string | null; anatomical_side: string | null } {
  const text = (v: unknown) => (typeof v === "string" ? v : null);
  return { image_side: text(leg.image_side), anatomical_side: text(leg.anatomical_side) };
}

/** Key metrics per leg, from `legs` (this server) or `metrics` / `alignment` (other shapes). */
export function legMetricsOf(item: ReviewItem): LegMetrics[] {
  if (Array.isArray(item.legs)) {
    return item.legs.map((leg, i) => {
      const sides = sideOf(leg);
      return {
        ...sides,
        side: sides.anatomical_side || sides.image_side ? legSideTitle(sides.anatomical_side, sides.image_side) : `Leg ${i + 1}`,
        metrics: Object.fromEntries(Object.entries(leg).filter(([, v]) => v && typeof v === "object")) as Record<string, MetricJson | null>,
      };
    });
  }
  if (Array.isArray(item.metrics)) {
    return item.metrics.map((m, i) => ({ side: `Leg ${i + 1}`, image_side: null, anatomical_side: null, metrics: m as Record<string, MetricJson | null> }));
  }
  if (item.alignment?.legs) {
    return item.alignment.legs.map((leg) => ({
      side: legSideTitle(leg.anatomical_side, leg.image_side), image_side: leg.image_side ?? null,
      anatomical_side: leg.anatomical_side ?? null, metrics: leg.metrics,
    }));
  }
  return [];
}

export function patientOf(item: ReviewItem): string {
  if (item.patient_code) return item.patient_code;
  if (typeof item.patient === "string") return item.patient;
  return item.patient?.code ?? "—";
}

/** The item's flags as stored (image-side prefixes, "left: …"). */
export function rawFlagsOf(item: ReviewItem): string[] {
  if (Array.isArray(item.flags)) return item.flags.map(String);
  const fromComponents = (item.priority_components as Record<string, unknown> | undefined)?.flags;
  return Array.isArray(fromComponents) ? fromComponents.map(String) : [];
}

/** The item's flags as a person reads them: the patient's side (issue 16, item 4). */
export function flagsOf(item: ReviewItem): string[] {
  const legs: SidedLeg[] = legMetricsOf(item);
  return rawFlagsOf(item).map((flag) => patientSideFlag(flag, legs));
}

export function metricChip(name: string, title: string, metric: MetricJson | null | undefined): HTMLElement {
  const value = metric?.value ?? null;
  const local = classify(name, value, { unit: metric?.unit, p2_5: metric?.p2_5, p97_5: metric?.p97_5 });
  // The server's judgement (the report's, at the patient's age) wins over the adult table.
  const server = (metric as { status?: string } | null | undefined)?.status;
  const status = server === "low" || server === "high" || server === "normal" ? server : server ? "unknown" : local.status;
  const uncertain = local.uncertain;
  const sd = metric?.sd;
  const judged = status === "low" || status === "high";
  const isLength = metric?.unit === "mm" || metric?.unit === "px";
  const text = value === null ? "—"
    : name === "hka_deviation_deg" ? hkaText(value)
      : isLength ? lengthText(value, metric?.unit) : `${fmt(value)}°`;
  return h("span", { class: `metric-chip status-${status}`, "data-metric": name, title: judged ? `outside the normal range: ${judgementText(name, status, uncertain)}` : "" },
    h("span", { class: "metric-name" }, title), ` ${text}`,
    typeof sd === "number" && sd > 0 ? h("span", { class: "sd" }, ` ±${fmt(sd, sd < 0.1 ? 2 : 1)}`) : null);
}

/** "LLD 8.0 mm, right longer" from the item's `lld` (right minus left), when the server sends one. */
export function lldLine(item: ReviewItem): HTMLElement | null {
  const lld = item.lld;
  if (!lld || typeof lld.value !== "number" || !Number.isFinite(lld.value)) return null;
  return h("div", { class: "lld muted small", "data-metric": "lld" }, `LLD ${lldText(lld.value, lld.unit)}`);
}

function priorityCell(item: ReviewItem): HTMLElement {
  const p = typeof item.priority === "number" ? item.priority : null;
  const components = Object.entries(item.priority_components ?? {}).filter(([, v]) => typeof v === "number") as [string, number][];
  const title = components.map(([k, v]) => `${k.replace(/_/g, " ")}: ${v.toFixed(2)}`).join("\n");
  const width = p === null ? 0 : Math.max(4, Math.min(100, (p / 1.5) * 100));
  return h("div", { class: "priority", title },
    h("div", { class: "priority-bar" }, h("span", { style: `width:${width}%` })),
    h("span", { class: "priority-value" }, p === null ? "—" : p.toFixed(2)),
    components.length ? h("div", { class: "priority-parts muted" }, components.map(([k, v]) => `${k.replace(/_/g, " ")} ${v.toFixed(2)}`).join(" · ")) : null);
}

export function itemRow(item: ReviewItem, cohortLabels: Record<string, string> = {}): HTMLTableRowElement {
  const href = urls.reviewPage(item.id);
  const thumb = item.image?.thumbnail_url ?? urls.thumbnail(item.image.id);
  const date = item.case?.acquisition_date ?? item.case?.date ?? null;
  const legs = legMetricsOf(item);
  const flags = flagsOf(item);
  const outside = outsideIntendedUse(rawFlagsOf(item));
  return h("tr", { class: `review-row status-${item.status}`, "data-item": item.id },
    h("td", { class: "thumbs" }, h("a", { href }, h("img", { loading: "lazy", alt: `image ${item.image.id}`, src: thumb }))),
    h("td", {}, h("strong", {}, patientOf(item)), h("div", { class: "muted small" }, cohortLabels[item.cohort ?? ""] ?? item.cohort ?? "")),
    h("td", { class: "date" }, date ?? "—", h("div", { class: "muted small" }, item.case?.view ?? "")),
    h("td", {}, priorityCell(item)),
    h("td", { class: "legs" }, outside && !legs.length
      ? h("span", { class: "outside-use" }, "Outside intended use: no angles (", patientSideFlag(outside, legs), ")")
      : legs.length
        ? h("div", {}, ...legs.map((leg) => h("div", { class: "leg-metrics" }, h("span", { class: "leg-side" }, leg.side),
          ...KEY_METRICS.map(([name, title]) => metricChip(name, title, leg.metrics[name])))),
        lldLine(item))
        : h("span", { class: "muted" }, "no leg measured")),
    h("td", { class: "flags-cell" }, flags.length ? h("ul", { class: "flags" }, ...flags.slice(0, 4).map((f) => h("li", {}, f)),
      flags.length > 4 ? h("li", { class: "muted" }, `+${flags.length - 4} more`) : null) : h("span", { class: "muted" }, "—")),
    h("td", {}, h("span", { class: `badge review-status status-${item.status}` }, item.status)),
    h("td", {}, h("a", { class: "button", href, id: `open-item-${item.id}` }, "Open")),
  );
}

export async function mountReviewQueue(root: HTMLElement, ctx: QueueContext): Promise<void> {
  setNormalRanges(ctx.normal_ranges);
  clear(root);
  const initial: Record<string, string> = { status: "pending", ...Object.fromEntries(Object.entries(ctx.filters ?? {}).filter(([, v]) => v)) };
  const form = h("form", { class: "filters", id: "review-filters", onsubmit: (e: Event) => {
    e.preventDefault();
    void load();
  } },
    h("label", {}, "Status", h("select", { name: "status" }, ...REVIEW_STATUSES.map(([v, t]) => h("option", { value: v, selected: v === initial.status }, t)))),
    h("label", {}, "Cohort", h("select", { name: "cohort" }, h("option", { value: "" }, "Any cohort"),
      ...(ctx.cohorts ?? []).map((c) => h("option", { value: c.value, selected: c.value === initial.cohort }, c.label)))),
    h("label", {}, "Images", h("select", { name: "not_a_leg", title: "Images in which no leg was found (outside intended use) are listed apart" },
      h("option", { value: "", selected: initial.not_a_leg !== "true" }, "Legs found"),
      h("option", { value: "true", selected: initial.not_a_leg === "true" }, "Not a leg (no leg found)"))),
    h("label", {}, "Patient code", h("input", { name: "patient", type: "text", value: initial.patient ?? "", placeholder: "e.g. P-0001" })),
    h("label", {}, "Acquired from", h("input", { name: "date_from", type: "date", value: initial.date_from ?? "" })),
    h("label", {}, "to", h("input", { name: "date_to", type: "date", value: initial.date_to ?? "" })),
    h("button", { type: "submit" }, "Filter"),
  );
  const summary = h("p", { class: "muted", id: "review-summary" });
  const body = h("tbody");
  const table = h("table", { id: "review-table", class: "review-table" },
    h("thead", {}, h("tr", {}, ...["", "Patient", "Date", "Priority", "Key metrics per leg (value ± spread)", "Flags", "Status", ""].map((t) => h("th", {}, t)))),
    body);
  const more = h("button", { type: "button", id: "review-more", hidden: true }, "Load more");
  root.append(form, summary, table, more);
  if (!ctx.user?.can_review) root.prepend(h("p", { class: "notice", id: "review-readonly" }, "You can look at the queue; only reviewers can accept, correct or reject."));

  let next: string | null = null;
  const cohortLabels = Object.fromEntries((ctx.cohorts ?? []).map((c) => [c.value, c.label]));
  const append = (items: ReviewItem[]) => {
    for (const item of items) body.append(itemRow(item, cohortLabels));
  };
  const load = async () => {
    const filters = formValues(form);
    const search = query(filters);
    history.replaceState(null, "", `${location.pathname}${search}`);
    summary.textContent = "Loading…";
    clear(body);
    try {
      const page = await getJson<{ results?: ReviewItem[]; count?: number; next?: string | null } | ReviewItem[]>(urls.reviewItems() + search);
      const items = Array.isArray(page) ? page : page.results ?? [];
      next = Array.isArray(page) ? null : page.next ?? null;
      append(items);
      const count = Array.isArray(page) ? items.length : page.count ?? items.length;
      summary.textContent = count ? `${count} item${count === 1 ? "" : "s"}, most uncertain first.` : "Nothing to review with these filters.";
    } catch (error) {
      summary.textContent = error instanceof ApiError && error.status === 404
        ? "The review queue is not available on this server yet."
        : `The queue could not be loaded: ${(error as Error).message}`;
      summary.classList.add("error");
    }
    more.hidden = !next;
  };
  more.addEventListener("click", async () => {
    if (!next) return;
    const page = await getJson<{ results?: ReviewItem[]; next?: string | null }>(next);
    append(page.results ?? []);
    next = page.next ?? null;
    more.hidden = !next;
  });
  enhanceFilterForm(form, () => void load());
  await load();
}
