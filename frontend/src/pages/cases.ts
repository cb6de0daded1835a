/** Entry of / and /cases/<id>/: the server-rendered lists, with filters that apply as they change. */

import "../styles/base.css";
import { enhanceFilterForm } from "../ui/filters";

const form = document.getElementById("case-filters");
if (form instanceof HTMLFormElement) enhanceFilterForm(form);
