/** Entry of / and /cases/<id>/: the server-rendered lists, filters that apply as they change, SAM drafts. */

import "../styles/base.css";
import { enhanceFilterForm } from "../ui/filters";
import { enhanceSamDrafts } from "../ui/samDrafts";
import { enhanceLabelMeImport, enhanceNewCase, enhanceUpload } from "../ui/upload";

const form = document.getElementById("case-filters");
if (form instanceof HTMLFormElement) enhanceFilterForm(form);

const drafts = document.getElementById("sam-drafts");
const draftsOutput = document.getElementById("sam-drafts-status");
if (drafts instanceof HTMLButtonElement && draftsOutput) {
  enhanceSamDrafts(drafts, draftsOutput, Number(drafts.dataset.caseId));
}

// Adding radiographs from the browser (issue 16, item 1).
const actions = document.getElementById("case-actions");
const context = document.getElementById("page-context")?.textContent;
if (actions && context) {
  const ctx = JSON.parse(context) as { user?: { role?: string }; cohorts?: { value: string; label: string }[]; views?: string[] };
  enhanceNewCase(actions, { cohorts: ctx.cohorts ?? [], views: ctx.views ?? ["AP"] });
  if (ctx.user?.role === "admin") enhanceLabelMeImport(actions, ctx.cohorts ?? []);
}
const zone = document.getElementById("upload-zone");
if (zone) enhanceUpload(zone, Number(zone.dataset.caseId), document.querySelector<HTMLTableSectionElement>("#image-table tbody"));
