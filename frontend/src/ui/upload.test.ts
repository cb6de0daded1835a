import { describe, expect, it } from "vitest";
import { formatBytes, isUploadCandidate, measurementLines, predictionStatus, responseMessage, runLimited } from "./upload";

describe("adding radiographs from the browser", () => {
  it("shows the server's message for a refused file", () => {
    expect(responseMessage(415, JSON.stringify({ message: "Unsupported file type: notes.txt", extra: { code: "unsupported_type" } })))
      .toBe("Unsupported file type: notes.txt");
    expect(responseMessage(413, "<html>Request Entity Too Large</html>")).toBe("The file is too large for this server.");
    expect(responseMessage(0, "")).toBe("The server could not be reached.");
    expect(responseMessage(502, "")).toBe("The server answered 502.");
  });

  it("sends DICOM files without an extension but skips DICOMDIR and hidden files", () => {
    expect(isUploadCandidate("study/IM000001")).toBe(true);
    expect(isUploadCandidate("study/leg.dcm")).toBe(true);
    expect(isUploadCandidate("leg.png")).toBe(true);
    expect(isUploadCandidate("study/DICOMDIR")).toBe(false);
    expect(isUploadCandidate("study/.DS_Store")).toBe(false);
    expect(isUploadCandidate("study/readme.txt")).toBe(false);
  });

  it("runs at most two uploads at once and finishes all, failures included", async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    const tasks = [0, 1, 2, 3, 4].map((i) => async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running -= 1;
      if (i === 2) throw new Error("refused");
      done.push(i);
    });
    await runLimited(tasks, 2);
    expect(peak).toBe(2);
    expect(done.sort()).toEqual([0, 1, 3, 4]);
  });

  it("formats sizes", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(2048)).toBe("2 kB");
    expect(formatBytes(5 * 1024 * 1024)).toBe("5.0 MB");
  });

  it("follows the new image's prediction in its status badge", () => {
    expect(predictionStatus([])).toBeNull(); // no active ensemble: stays "uploaded"
    expect(predictionStatus([{ status: "queued" }])?.text).toBe("predicting…");
    // Behind other work the badge says how much and about how long (issue 27, item 4).
    expect(predictionStatus([{ status: "queued", queue: { ahead: 3, eta_seconds: 7.2 } }])?.text).toBe("predicting… (3 ahead, about 7 s)");
    expect(predictionStatus([{ status: "queued", queue: { ahead: 40, eta_seconds: 250 } }])?.text).toBe("predicting… (40 ahead, about 4 min)");
    expect(predictionStatus([{ status: "failed" }, { status: "succeeded" }])?.text).toBe("predicted");
    expect(predictionStatus([{ status: "failed" }])?.text).toBe("prediction failed");
    // A film with no leg in it says so at once (issue 27, item 5), instead of "predicted".
    const noLeg = { status: "succeeded", alignment: { image: "x.dcm", width: 10, height: 10, pixel_spacing_mm: null, legs: [], lld: null } };
    expect(predictionStatus([noLeg])?.text).toBe("not a leg: no leg found (outside intended use)");
  });

  it("shows a new image's measurements once predicted (issue 27, item 8)", () => {
    const alignment = {
      width: 10, height: 10, pixel_spacing_mm: 0.2, lld: { value: 4.04, unit: "mm" },
      legs: [
        { image_side: "left", anatomical_side: "right", metrics: { hka_deviation_deg: { value: -3.1 } } },
        { image_side: "right", anatomical_side: "left", metrics: { hka_deviation_deg: null } },
      ],
    } as unknown as Parameters<typeof measurementLines>[0];
    expect(measurementLines(alignment)).toEqual(["Right leg: HKA 176.9° (3.1° varus)", "Left leg: HKA not measured", "LLD 4.0 mm, right longer"]);
    expect(measurementLines(null)).toEqual([]);
  });
});
