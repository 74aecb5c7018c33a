// "Start a run": a scenario run, a forecast issuance from a track file, or a hindcast issuance of a
// packaged storm, with the CLI's options; the server checks the role (runs:write). Progress is
// polled from GET /api/v1/runs/{id}; when done, onDone(run) puts the result on the map.
import { api } from "./api.js";
import { formatNumber, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

/** Rows of a generic track CSV (header line, comma-separated) as objects with numbers. */
export function parseTrackCsv(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  if (lines.length < 3) throw new Error(t("run_track_short"));
  const head = lines[0].split(",").map((h) => h.trim());
  return lines.slice(1).map((l) => {
    const cells = l.split(",");
    const o = {};
    head.forEach((h, i) => {
      const v = (cells[i] || "").trim();
      o[h] = v !== "" && Number.isFinite(Number(v)) && h !== "time" ? Number(v) : v;
    });
    return o;
  });
}

/** The run request of the form: {kind, config}. */
export async function runRequest() {
  const what = $("run-kind").value;
  const n = Number($("run-n").value);
  if (!Number.isInteger(n) || n < 1) throw new Error(t("run_n_bad"));
  const sn = $("run-sn").value.trim();
  if (what === "scenario") {
    if (!sn) throw new Error(t("run_sn_bad")); // CMA number, JTWC number or name: the service resolves it
    return { kind: "scenario", config: { sn, realisations: n } };
  }
  const issued = $("run-issued").value.trim();
  if (!issued) throw new Error(t("run_issued_missing"));
  const members = Math.max(1, Number($("run-members").value) || 1);
  const cfg = { issued, members, realisations: Math.max(1, Math.ceil(n / members)), leads: [24, 48] };
  if (what === "hindcast") {
    if (!sn) throw new Error(t("run_sn_bad")); // CMA number, JTWC number or name: the service resolves it
    return { kind: "forecast", config: { ...cfg, sn } };
  }
  const f = $("run-track").files[0];
  if (!f) throw new Error(t("run_track_missing"));
  return { kind: "forecast", config: { ...cfg, track: parseTrackCsv(await f.text()) } };
}

export function syncRunForm() {
  const what = $("run-kind").value;
  $("run-sn-row").hidden = what === "forecast";
  $("run-issued-row").hidden = what === "scenario";
  $("run-track-row").hidden = what !== "forecast";
}

function showProgress(run) {
  const pct = Math.round(100 * (run.progress || 0));
  $("run-progress").value = pct;
  $("run-progress").hidden = false;
  $("run-status").textContent = t("run_status", {
    status: t(`run_${run.status}`), pct: formatNumber(pct), stage: run.message || "",
  });
}

export function initRunPanel({ twin, onDone, pollMs = 1000 }) {
  syncRunForm();
  $("run-kind").addEventListener("change", syncRunForm);
  $("run-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("run-start").disabled = true;
    $("run-status").textContent = "";
    try {
      const req = await runRequest();
      let run = await api("/api/v1/runs", { method: "POST", json: { kind: req.kind, twin: twin(), config: req.config } });
      showProgress(run);
      while (run.status === "queued" || run.status === "running") {
        await new Promise((r) => setTimeout(r, pollMs));
        run = await api(`/api/v1/runs/${run.id}`);
        showProgress(run);
      }
      if (run.status === "done") await onDone(run);
      else $("run-status").textContent = t("run_failed_msg", { msg: run.error || run.message || "" });
    } catch (e) {
      $("run-status").textContent = e.status === 403 ? t("run_forbidden") : `${t("run_error")}${e.message}`;
    } finally {
      $("run-start").disabled = false;
    }
  });
}
