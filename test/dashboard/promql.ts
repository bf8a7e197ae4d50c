/**
 * Just enough PromQL reading to find the metric names a Grafana query selects: label matchers,
 * range and subquery brackets, string literals, grouping label lists and function calls are removed,
 * and the identifiers left are metric selectors.
 */

/** PromQL keywords and operators spelled as identifiers (never metric names). */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'atan2',
  'inf',
  'nan',
  'start',
  'end',
]);

/** Grafana's built-in interval variables, replaced by a duration so the expression stays valid PromQL. */
const GRAFANA_DURATIONS =
  /\$__(rate_interval|interval|range)(_ms|_s)?\b|\$\{__(rate_interval|interval|range)\}/g;

/** Replaces Grafana variables with PromQL-valid stand-ins: durations for `$__*`, `.*` for `$var`. */
export function substituteGrafanaVariables(expr: string): string {
  return expr.replace(GRAFANA_DURATIONS, '5m').replace(/\$\{?\w+\}?/g, '.*');
}

/** Every metric name an expression selects, in order of appearance, without duplicates. */
export function metricNames(expr: string): string[] {
  let s = substituteGrafanaVariables(expr);
  // String literals (label values, label_replace arguments) carry no metric names.
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  // `{__name__="x"}` would name a metric in a string: not supported, refuse rather than miss it.
  if (/__name__/.test(expr)) throw new Error(`__name__ selectors are not supported: ${expr}`);
  // Label matchers and range/subquery brackets.
  s = s.replace(/\{[^}]*\}/g, '{}').replace(/\[[^\]]*\]/g, '[]');
  // Label lists of grouping and vector matching: by (a, b), without(...), on(...), group_left(...).
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' $1 ');
  const names: string[] = [];
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const id = m[0];
    const before = s.slice(0, m.index);
    const after = s.slice(m.index + id.length);
    // Part of a number (1e3, 0x1f) or a duration (5m, 1h30m).
    if (/[0-9.]$/.test(before)) continue;
    if (KEYWORDS.has(id.toLowerCase())) continue;
    // Functions and aggregations: followed by `(`, or by `by (...)`/`without (...)` then `(`.
    if (/^\s*\(/.test(after)) continue;
    if (/^\s*(by|without)\s+\(/.test(after)) continue;
    if (!names.includes(id)) names.push(id);
  }
  return names;
}

/** The metric of a Grafana `label_values(metric, label)` / `metrics(...)` / `query_result(...)` variable query. */
export function variableQueryMetrics(query: string): string[] {
  const lv = /^\s*label_values\(\s*([^,)]+?)\s*(?:,\s*\w+\s*)?\)\s*$/.exec(query);
  if (lv) return metricNames(lv[1]!);
  const qr = /^\s*query_result\((.*)\)\s*$/s.exec(query);
  if (qr) return metricNames(qr[1]!);
  return [];
}
