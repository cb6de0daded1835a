/**
 * Adding radiographs from the browser (issue 16, item 1).
 *
 * - Case list: "New case" (patient code, date, view, cohort) posts `POST /api/cases/create/` and opens
 *   the new case's page; admins also get "Import LabelMe (.zip)" (`POST /api/imports/labelme/`).
 * - Case page: drop files (PNG, JPEG, TIFF, DICOM) or a DICOM folder on the drop zone, or pick them;
 *   each file is one `POST /api/images/upload/` (multipart `case`, `file`) with its own progress bar
 *   and, when the server refuses it, the server's message (400/413/415 `{"message", "extra"}`); an
 *   uploaded image appears in the case's table with its status.
 *
 * Uploads run two at a time. A dropped or picked .zip is unpacked in the browser (core/zip.ts) and its
 * files are sent one by one. Folder entries that cannot be images (DICOMDIR, hidden files) are skipped.
 */

import { api } from "../api/endpoints";
import { csrfToken } from "../api/http";
import type { AlignmentJson, PredictionInfo } from "../api/types";
import { formatHka, legSideTitle, lldText } from "../core/clinicalText";
import { isZipName, readZip } from "../core/zip";
import { h } from "./dom";

export interface UploadedImage {
  id: number;
  name?: string;
  width?: number;
  height?: number;
  pixel_spacing_mm?: number | null;
}

/** What a person reads about a refused request: the server's `message`, else the HTTP status. */
export function responseMessage(status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown; detail?: unknown };
    if (typeof parsed.message === "string" && parsed.message) return parsed.message;
    if (typeof parsed.detail === "string" && parsed.detail) return parsed.detail;
  } catch {
    // not JSON
  }
  if (status === 413) return "The file is too large for this server.";
  if (status === 0) return "The server could not be reached.";
  return `The server answered ${status}.`;
}

/** Whether a file of a picked or dropped folder is worth sending (DICOM files often have no extension). */
export function isUploadCandidate(name: string): boolean {
  const base = name.split("/").pop() ?? name;
  if (!base || base.startsWith(".")) return false;
  if (base.toUpperCase() === "DICOMDIR") return false;
  return !/\.(txt|json|xml|html?|pdf|ini|db|ds_store|md)$/i.test(base);
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** POST a multipart form with upload progress; resolves with the JSON body, rejects with the server's message. */
export function postForm<T>(url: string, form: FormData, onProgress: (fraction: number) => void = () => {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        try {
          resolve(JSON.parse(xhr.responseText) as T);
        } catch {
          resolve({} as T);
        }
      } else {
        reject(new Error(responseMessage(xhr.status, xhr.responseText)));
      }
    });
    xhr.addEventListener("error", () => reject(new Error(responseMessage(0, ""))));
    xhr.send(form);
  });
}

/** Run `tasks` with at most `limit` at a time; resolves when all have settled. */
export async function runLimited(tasks: (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++];
      await task().catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

async function filesOfEntry(entry: FileSystemEntry, path = ""): Promise<File[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    return [new File([file], `${path}${file.name}`, { type: file.type })];
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const out: File[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    for (const child of batch) out.push(...(await filesOfEntry(child, `${path}${entry.name}/`)));
  }
  return out;
}

/** The files of a drop, folders included (recursively). */
async function droppedFiles(data: DataTransfer): Promise<File[]> {
  const entries = [...data.items].map((item) => item.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  if (!entries.length) return [...data.files];
  const nested = await Promise.all(entries.map((entry) => filesOfEntry(entry)));
  return nested.flat();
}

/** The case page's drop zone and per-file upload list. */
export function enhanceUpload(zone: HTMLElement, caseId: number, table: HTMLTableSectionElement | null): void {
  const list = h("ul", { class: "upload-list", id: "upload-list" });
  const pick = h("input", { type: "file", multiple: true, id: "upload-files", accept: ".png,.jpg,.jpeg,.tif,.tiff,.dcm,.dicom,.zip,image/*,application/dicom,application/zip" }) as HTMLInputElement;
  const pickFolder = h("input", { type: "file", id: "upload-folder", webkitdirectory: true, multiple: true }) as HTMLInputElement;
  zone.append(
    h("p", {}, h("strong", {}, "Add radiographs: "), "drop PNG, JPEG, TIFF or DICOM files, a DICOM folder or a .zip of them, here."),
    h("div", { class: "upload-pickers" },
      h("label", { class: "button" }, "Choose files…", pick),
      h("label", { class: "button" }, "Choose a folder…", pickFolder)),
    list,
  );
  const send = async (picked: File[]) => {
    const files = (await Promise.all(picked.map(unpackZip))).flat();
    const wanted = files.filter((f) => isUploadCandidate(f.webkitRelativePath || f.name));
    const skipped = files.length - wanted.length;
    if (skipped) list.append(h("li", { class: "muted" }, `${skipped} file${skipped === 1 ? "" : "s"} skipped (DICOMDIR, hidden or not images).`));
    const tasks = wanted.map((file) => () => uploadOne(file));
    void runLimited(tasks, 2);
  };
  const unpackZip = async (file: File): Promise<File[]> => {
    if (!isZipName(file.name)) return [file];
    try {
      const entries = await readZip(await file.arrayBuffer());
      return entries.map((entry) => new File([entry.data as BlobPart], `${file.name}/${entry.name}`));
    } catch (error) {
      list.append(h("li", { class: "upload-item failed", "data-name": file.name }, h("span", { class: "upload-name" }, file.name),
        " ", h("span", { class: "upload-state error" }, `could not be unpacked: ${(error as Error).message}`)));
      return [];
    }
  };
  const uploadOne = async (file: File) => {
    const name = file.webkitRelativePath || file.name;
    const bar = h("progress", { max: 1, value: 0 }) as HTMLProgressElement;
    const state = h("span", { class: "upload-state" }, "waiting…");
    const row = h("li", { class: "upload-item", "data-name": name }, h("span", { class: "upload-name" }, name),
      h("span", { class: "muted" }, ` ${formatBytes(file.size)} `), bar, " ", state);
    list.append(row);
    const form = new FormData();
    form.append("case", String(caseId));
    form.append("file", file, file.name.split("/").pop() ?? file.name);
    state.textContent = "uploading…";
    try {
      const image = await postForm<UploadedImage>("/api/images/upload/", form, (f) => {
        bar.value = f;
      });
      row.classList.add("done");
      state.textContent = "";
      state.append("uploaded · ", h("a", { href: `/images/${image.id}/` }, "open in the editor"),
        image.width ? ` · ${image.width} × ${image.height}` : "");
      if (table) table.append(newImageRow(image, name));
    } catch (error) {
      row.classList.add("failed");
      bar.remove();
      state.className = "upload-state error";
      state.textContent = (error as Error).message;
    }
  };
  pick.addEventListener("change", () => {
    void send([...(pick.files ?? [])]);
    pick.value = "";
  });
  pickFolder.addEventListener("change", () => {
    void send([...(pickFolder.files ?? [])]);
    pickFolder.value = "";
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    if (e.dataTransfer) void droppedFiles(e.dataTransfer).then(send);
  });
}

/** The thumbnail is made by a worker after the upload: try again a few times until it exists. */
function retryingThumbnail(imageId: number): HTMLImageElement {
  const img = h("img", { alt: "", src: `/api/images/${imageId}/thumbnail/` });
  let tries = 0;
  img.addEventListener("error", () => {
    if (++tries > 10) return;
    setTimeout(() => {
      img.src = `/api/images/${imageId}/thumbnail/?try=${tries}`;
    }, 1500);
  });
  return img;
}

/** What the newest prediction of a just-uploaded image says, for its status badge. */
export function predictionStatus(predictions: readonly (Pick<PredictionInfo, "status"> & Partial<Pick<PredictionInfo, "alignment" | "queue">>)[]): { text: string; css: string } | null {
  const succeeded = predictions.find((p) => p.status === "succeeded");
  if (succeeded && succeeded.alignment && !(succeeded.alignment.legs ?? []).length) {
    return { text: "not a leg: no leg found (outside intended use)", css: "status-not_a_leg" };
  }
  if (succeeded) return { text: "predicted", css: "status-predicted" };
  if (predictions.some((p) => p.status === "running")) return { text: "predicting…", css: "status-unlabelled" };
  const queued = predictions.find((p) => p.status === "queued");
  if (queued) {
    const queue = queued.queue;
    const wait = queue && queue.ahead > 0 ? ` (${queue.ahead} ahead, about ${formatWait(queue.eta_seconds)})` : "";
    return { text: `predicting…${wait}`, css: "status-unlabelled" };
  }
  if (predictions.length && predictions.every((p) => p.status === "failed")) return { text: "prediction failed", css: "status-failed" };
  return null;
}

/** "40 s", "3 min": a rough wait for a person reading a badge. */
export function formatWait(seconds: number): string {
  return seconds < 90 ? `${Math.max(1, Math.round(seconds))} s` : `${Math.round(seconds / 60)} min`;
}

/** A new row's measurements once its prediction is in: each leg's HKA and the LLD (as the case page shows them). */
export function measurementLines(alignment: AlignmentJson | null | undefined): string[] {
  const lines = (alignment?.legs ?? []).map((leg) => {
    const hka = leg.metrics?.hka_deviation_deg?.value;
    return `${legSideTitle(leg.anatomical_side, leg.image_side, false)}: ${hka == null ? "HKA not measured" : formatHka(hka)}`;
  });
  if (alignment?.lld?.value != null) lines.push(`LLD ${lldText(alignment.lld.value, alignment.lld.unit)}`);
  return lines;
}

/** The status badge of a new row, following its prediction for a few minutes (no active ensemble: stays "uploaded");
 * once predicted, ``measurements`` gets the prediction's numbers. */
function followStatus(imageId: number, measurements: HTMLElement): HTMLElement {
  const badge = h("span", { class: "badge status-unlabelled", "data-image": imageId }, "uploaded");
  let polls = 0;
  const poll = async () => {
    polls += 1;
    try {
      const predictions = await api.predictions(imageId);
      const status = predictionStatus(predictions);
      if (status) {
        badge.textContent = status.text;
        badge.className = `badge ${status.css}`;
        if (!status.text.startsWith("predicting…")) {
          const done = predictions.find((p) => p.status === "succeeded");
          measurements.replaceChildren(...measurementLines(done?.alignment).map((line) => h("div", {}, line)),
            ...(done?.alignment?.legs?.length ? [h("div", { class: "muted small" }, "model prediction, not reviewed")] : []));
          return;
        }
      }
    } catch {
      // keep the badge; try again
    }
    if (polls < 60 && badge.isConnected) setTimeout(() => void poll(), 5000);
  };
  setTimeout(() => void poll(), 3000);
  return badge;
}

function newImageRow(image: UploadedImage, name: string): HTMLTableRowElement {
  const href = `/images/${image.id}/`;
  const measurements = h("td", { class: "measurements" });
  return h("tr", { class: "image-row new", "data-image": image.id },
    h("td", { class: "thumbs" }, h("a", { href }, retryingThumbnail(image.id))),
    h("td", {}, h("a", { href }, image.name ?? name)),
    h("td", {}, followStatus(image.id, measurements)),
    measurements,
    h("td", {}, image.width ? `${image.width} × ${image.height}` : ""),
    h("td", {}, image.pixel_spacing_mm ? `${image.pixel_spacing_mm.toFixed(3)} mm` : h("span", { class: "muted" }, "uncalibrated")),
    h("td", {}, h("span", { class: "muted" }, "none")),
  );
}

export interface NewCaseFormOptions {
  cohorts: { value: string; label: string }[];
  views: string[];
}

/** The case list's "New case" form: creates the case, then opens its page to add images. */
export function enhanceNewCase(container: HTMLElement, options: NewCaseFormOptions): void {
  const message = h("p", { class: "error", id: "new-case-message", hidden: true });
  const form = h("form", { id: "new-case", class: "filters new-case" },
    h("label", {}, "Patient code", h("input", { name: "patient_code", required: true, placeholder: "e.g. P-0001", autocomplete: "off" })),
    h("label", {}, "Acquired", h("input", { name: "acquisition_date", type: "date" })),
    h("label", {}, "View", h("select", { name: "view" }, ...options.views.map((v) => h("option", { value: v }, v)))),
    h("label", {}, "Cohort (new patients)", h("select", { name: "cohort" }, ...options.cohorts.map((c) => h("option", { value: c.value, selected: c.value === "unknown" }, c.label)))),
    h("label", { title: "Children's films are judged against their age's normal ranges; a DICOM header fills it in too" }, "Birth year",
      h("input", { name: "birth_year", type: "number", min: "1900", max: String(new Date().getFullYear()), step: "1", placeholder: "e.g. 2014", inputmode: "numeric" })),
    h("label", {}, "Sex", h("select", { name: "sex" }, h("option", { value: "" }, "Unknown"), h("option", { value: "F" }, "Female"), h("option", { value: "M" }, "Male"), h("option", { value: "O" }, "Other"))),
    h("button", { type: "submit", class: "primary" }, "Create case and add images"),
  ) as HTMLFormElement;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    message.hidden = true;
    const values = Object.fromEntries(new FormData(form).entries()) as Record<string, string>;
    const body: Record<string, string | number | null> = { patient_code: values.patient_code.trim(), view: values.view, cohort: values.cohort };
    body.acquisition_date = values.acquisition_date || null;
    if (values.birth_year) body.birth_year = Number(values.birth_year);
    if (values.sex) body.sex = values.sex;
    const response = await fetch("/api/cases/create/", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
      message.textContent = responseMessage(response.status, text);
      message.hidden = false;
      return;
    }
    const created = JSON.parse(text) as { id: number };
    window.location.assign(`/cases/${created.id}/`);
  });
  container.append(h("details", { class: "panel new-case-panel", open: false }, h("summary", {}, "New case"), form, message));
}

/** Admins: import a LabelMe .zip (images + JSON) from the case list. */
export function enhanceLabelMeImport(container: HTMLElement, cohorts: { value: string; label: string }[]): void {
  const state = h("span", { id: "labelme-import-state", class: "upload-state" });
  const bar = h("progress", { max: 1, value: 0, hidden: true }) as HTMLProgressElement;
  const input = h("input", { type: "file", name: "file", accept: ".zip,application/zip", required: true, id: "labelme-zip" }) as HTMLInputElement;
  const form = h("form", { id: "labelme-import", class: "filters" },
    h("label", {}, "LabelMe .zip (images and JSON)", input),
    h("label", {}, "Cohort", h("select", { name: "cohort" }, ...cohorts.map((c) => h("option", { value: c.value }, c.label)))),
    h("button", { type: "submit" }, "Import"), bar, state,
  ) as HTMLFormElement;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    bar.hidden = false;
    state.className = "upload-state";
    state.textContent = "uploading…";
    try {
      const report = await postForm<Record<string, unknown>>("/api/imports/labelme/", data, (f) => {
        bar.value = f;
        if (f >= 1) state.textContent = "importing…";
      });
      const parts = Object.entries(report).filter(([, v]) => typeof v === "number").map(([k, v]) => `${k.replace(/_/g, " ")}: ${v}`);
      state.textContent = `Imported. ${parts.join(", ")}. Reload to see the cases.`;
    } catch (error) {
      state.className = "upload-state error";
      state.textContent = (error as Error).message;
    }
  });
  container.append(h("details", { class: "panel" }, h("summary", {}, "Import a LabelMe folder (.zip, admins)"), form));
}
