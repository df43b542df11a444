// Shared pieces of the console: htm bound to preact, the router, forms whose errors sit next
// to their fields, tables, and the SVG charts (drawn here: a few dozen lines beat a library).

import { h } from "./vendor/preact.js";
import { useEffect, useState, useCallback, useRef } from "./vendor/hooks.js";
import htm from "./vendor/htm.js";
import { gql, registerForm, takeDraft, SessionExpired } from "./api.js";

export const html = htm.bind(h);

// ------------------------------------------------------------------ router

export const BASE = "/console";

export function navigate(path) {
  window.history.pushState(null, "", BASE + path);
  window.dispatchEvent(new Event("allot:navigate"));
}

export function currentPath() {
  const p = window.location.pathname;
  return p.startsWith(BASE) ? p.slice(BASE.length) || "/" : "/";
}

export function Link({ to, children, ...rest }) {
  const onClick = (ev) => {
    if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    navigate(to);
  };
  return html`<a href=${BASE + to} onClick=${onClick} ...${rest}>${children}</a>`;
}

// ------------------------------------------------------------------ data loading

/** Run `name` with `variables` when they change; {data, error, loading, reload}. */
export function useQuery(name, variables = {}, deps = []) {
  const [result, setResult] = useState({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setResult((r) => ({ ...r, loading: true }));
    gql(name, variables).then(
      (data) => live && setResult({ data, error: null, loading: false }),
      (error) => {
        if (error instanceof SessionExpired) return;
        if (live) setResult({ data: null, error, loading: false });
      },
    );
    return () => {
      live = false;
    };
  }, [name, JSON.stringify(variables), tick, ...deps]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...result, reload };
}

export function Loading({ result, children }) {
  if (result.error) {
    const e = result.error;
    return html`<p class="error" role="alert">${e.code ? html`<code>${e.code}</code> ` : null}${e.message}</p>`;
  }
  if (!result.data) return html`<p class="muted">Loading…</p>`;
  return children(result.data);
}

// ------------------------------------------------------------------ forms

/**
 * Form state for form `id`: values (restored from a kept draft after a re-login), errors from
 * the API (UserError {code, message, field}), and submit(): runs `action(values)`, which
 * returns the payload's `errors` (empty on success).
 */
export function useForm(id, initial) {
  const [values, setValues] = useState(() => ({ ...initial, ...(takeDraft(id) || {}) }));
  const [errors, setErrors] = useState([]);
  const [busy, setBusy] = useState(false);
  const valuesRef = useRef(values);
  valuesRef.current = values;
  useEffect(() => registerForm(id, () => valuesRef.current), [id]);
  const set = (name, value) => setValues((v) => ({ ...v, [name]: value }));
  const bind = (name) => ({
    name,
    value: values[name] ?? "",
    onInput: (ev) => set(name, ev.target.value),
  });
  const submit = async (action) => {
    setBusy(true);
    setErrors([]);
    try {
      const errs = (await action(valuesRef.current)) || [];
      setErrors(errs);
      return errs.length === 0;
    } catch (e) {
      if (!(e instanceof SessionExpired)) {
        setErrors([{ code: e.code || "REQUEST_FAILED", message: e.message, field: null }]);
      }
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { values, setValues, set, bind, errors, setErrors, busy, submit };
}

/** Whether dotted field path `field` is `path` or inside it ("unitPlural" is not in "unit"). */
function within(field, path) {
  return field === path || field.startsWith(path + ".");
}

/** The API errors whose field path is `path` or inside it (a dotted string such as "prices"). */
export function errorsFor(errors, path) {
  return errors.filter((e) => e.field && within(e.field.join("."), path));
}

/** Errors not shown next to any of `paths`: shown at the top of the form. */
export function otherErrors(errors, paths) {
  return errors.filter(
    (e) => !e.field || !paths.some((p) => within(e.field.join("."), p)),
  );
}

export function ErrorText({ errors }) {
  if (!errors || !errors.length) return null;
  return html`${errors.map(
    (e) =>
      html`<p class="field-error" role="alert" data-code=${e.code}>
        <code>${e.code}</code> ${e.message}
      </p>`,
  )}`;
}

/** A labelled input with its errors: `form` from useForm, `path` the API field path. */
export function Field({ form, name, label, path, type = "text", hint, children, ...rest }) {
  const errs = errorsFor(form.errors, path || name);
  const id = `f-${name}`;
  const control = children
    ? children
    : html`<input id=${id} type=${type} ...${form.bind(name)} ...${rest}
        aria-invalid=${errs.length ? "true" : "false"} />`;
  return html`<div class=${"field" + (errs.length ? " has-error" : "")}>
    <label for=${id}>${label}</label>
    ${control}
    ${hint ? html`<small class="muted">${hint}</small>` : null}
    <${ErrorText} errors=${errs} />
  </div>`;
}

// ------------------------------------------------------------------ formatting

export function money(amount, currency) {
  if (amount === null || amount === undefined) return "—";
  const n = Number(amount);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(n);
  } catch (e) {
    return `${amount} ${currency || ""}`;
  }
}

export function day(iso) {
  return iso ? iso.slice(0, 10) : "—";
}

export function when(iso) {
  return iso ? iso.replace("T", " ").slice(0, 19) : "—";
}

export function limitText(ent) {
  if (ent.isUnlimited) return "unlimited";
  if (ent.usageLimit !== null && ent.usageLimit !== undefined) {
    return `${ent.usageLimit}${ent.isSoftLimit ? " (soft)" : ""}`;
  }
  if (ent.value !== null && ent.value !== undefined) return String(ent.value);
  if (ent.enumValues && ent.enumValues.length) return ent.enumValues.join(", ");
  if (ent.isVariable) return "set per customer";
  return "on";
}

export function edges(conn) {
  return conn ? conn.edges.map((e) => e.node) : [];
}

// ------------------------------------------------------------------ diff

/** Side-by-side JSON diff of two values: the changed top-level keys, the others folded. */
export function JsonDiff({ before, after }) {
  const b = before || {};
  const a = after || {};
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].sort();
  const show = (v) => (v === undefined ? "" : JSON.stringify(v, null, 1));
  const changed = keys.filter((k) => show(b[k]) !== show(a[k]));
  const same = keys.filter((k) => show(b[k]) === show(a[k]));
  const rows = (list, cls) =>
    list.map((k) => html`<tr class=${cls}><td>${k}</td><td><pre>${show(b[k])}</pre></td><td><pre>${show(a[k])}</pre></td></tr>`);
  return html`<div class="diff-box">
    <table class="diff">
      <thead><tr><th>field</th><th>before</th><th>after</th></tr></thead>
      <tbody>${changed.length ? rows(changed, "changed") : html`<tr><td colspan="3" class="muted">no field changed</td></tr>`}</tbody>
    </table>
    ${same.length
      ? html`<details><summary>${same.length} unchanged field${same.length > 1 ? "s" : ""}</summary>
          <table class="diff"><tbody>${rows(same, "")}</tbody></table></details>`
      : null}
  </div>`;
}

// ------------------------------------------------------------------ charts (SVG)

/** Horizontal bars: items [{label, value}], one row each. */
export function BarChart({ items, width = 520, title }) {
  const row = 22;
  const labelW = 160;
  const max = Math.max(1, ...items.map((i) => i.value));
  const height = Math.max(row, items.length * row) + 4;
  return html`<svg class="chart" role="img" aria-label=${title || "bar chart"}
      viewBox=${`0 0 ${width} ${height}`} width=${width} height=${height}>
    ${items.map((item, i) => {
      const w = ((width - labelW - 60) * item.value) / max;
      const y = i * row + 2;
      return html`<g>
        <text x=${labelW - 6} y=${y + 15} text-anchor="end" class="chart-label">${item.label}</text>
        <rect x=${labelW} y=${y + 3} width=${Math.max(1, w)} height=${row - 6} class="chart-bar" />
        <text x=${labelW + w + 6} y=${y + 15} class="chart-value">${item.value}</text>
      </g>`;
    })}
  </svg>`;
}

/** Columns over time: points [{label, value}] (usage history, distributions). */
export function ColumnChart({ points, width = 560, height = 160, title }) {
  const pad = 24;
  const max = Math.max(1, ...points.map((p) => p.value));
  const n = Math.max(1, points.length);
  const slot = (width - pad * 2) / n;
  return html`<svg class="chart" role="img" aria-label=${title || "chart"}
      viewBox=${`0 0 ${width} ${height}`} width=${width} height=${height}>
    <line x1=${pad} y1=${height - pad} x2=${width - pad} y2=${height - pad} class="chart-axis" />
    <text x="2" y="12" class="chart-label">${max}</text>
    ${points.map((p, i) => {
      const hgt = ((height - pad * 2) * p.value) / max;
      const x = pad + i * slot + 1;
      return html`<g>
        <title>${p.label}: ${p.value}</title>
        <rect x=${x} y=${height - pad - hgt} width=${Math.max(1, slot - 2)} height=${hgt}
          class="chart-bar" />
        ${i === 0 || i === points.length - 1 || n <= 8
          ? html`<text x=${x} y=${height - 6} class="chart-label small">${p.label}</text>`
          : null}
      </g>`;
    })}
  </svg>`;
}

/** Usage against a limit. */
export function UsageBar({ used, limit, unlimited, soft }) {
  const u = Number(used || 0);
  if (unlimited || limit === null || limit === undefined) {
    return html`<span class="usage">${u} used${unlimited ? " · unlimited" : ""}</span>`;
  }
  const pct = limit > 0 ? Math.min(100, (u / limit) * 100) : 100;
  const cls = pct >= 100 ? "over" : pct >= 80 ? "high" : "";
  return html`<span class="usage">
    <svg class=${"usage-bar " + cls} viewBox="0 0 100 8" width="140" height="10"
        role="img" aria-label=${`${u} of ${limit}`}>
      <rect x="0" y="0" width="100" height="8" class="usage-track" />
      <rect x="0" y="0" width=${pct} height="8" class="usage-fill" />
    </svg>
    ${u} / ${limit}${soft ? " (soft)" : ""}
  </span>`;
}
