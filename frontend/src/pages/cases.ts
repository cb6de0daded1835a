/** Entry of / and /cases/<id>/: the server-rendered lists, filters that apply as they change, SAM drafts. */

import "../styles/base.css";
import { enhanceFilterForm } from "../ui/filters";
import { enhanceSamDrafts } from "../ui/samDrafts";

const form = document.getElementById("case-filters");
if (form instanceof HTMLFormElement) enhanceFilterForm(form);

const drafts = document.getElementById("sam-drafts");
const draftsOutput = document.getElementById("sam-drafts-status");
if (drafts instanceof HTMLButtonElement && draftsOutput) {
  enhanceSamDrafts(drafts, draftsOutput, Number(drafts.dataset.caseId));
}
