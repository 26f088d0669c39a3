/**
 * The few calls to a running suite's API (dev mode, no token) the runner needs: which modules a plan
 * selection has, and each module's outcome after a run.
 */
import { Agent, request } from 'undici';

export interface ModuleOutcome {
  module: string;
  status: string;
  result: string;
  /** FAILURE / WARNING / REVIEW entries of the module's log: `RESULT Condition: message`. */
  notes: string[];
  /** For REVIEW: the pages the suite's browser captured for a person to look at. */
  pages: { condition: string; html: string }[];
  testId?: string;
}

export class SuiteApi {
  private readonly dispatcher: Agent;
  constructor(private readonly base: string, ca: string) {
    this.dispatcher = new Agent({ connect: { ca } });
  }

  async call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await request(new URL(path, this.base), {
      method, dispatcher: this.dispatcher,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    let json: any;
    try { json = text.trim() ? JSON.parse(text) : undefined; } catch { json = { error: text.slice(0, 300) }; }
    return { status: res.statusCode, json };
  }

  async available(): Promise<boolean> {
    try { return (await this.call('GET', 'api/runner/available')).status < 400; } catch { return false; }
  }

  /**
   * The modules the suite selects for a plan and variant (it applies its own rules), or its refusal.
   * The plan is created without an alias and deleted again.
   */
  async listModules(planName: string, variant: Record<string, string>, config: Record<string, unknown>): Promise<{ modules: string[] } | { refused: string }> {
    const { alias: _alias, ...body } = config;
    const query = new URLSearchParams({ planName, variant: JSON.stringify(variant) });
    const { status, json } = await this.call('POST', `api/plan?${query}`, body);
    if (status !== 201) return { refused: `HTTP ${status}: ${json?.error ?? json?.message ?? JSON.stringify(json)}` };
    await this.call('DELETE', `api/plan/${json.id}`);
    return { modules: json.modules.map((m: { testModule: string }) => m.testModule) };
  }

  async outcomes(planId: string): Promise<{ planName: string; variant: Record<string, string>; modules: ModuleOutcome[] }> {
    const plan = (await this.call('GET', `api/plan/${planId}`)).json;
    const modules: ModuleOutcome[] = [];
    for (const m of plan.modules) {
      const module = m.testModule as string;
      const testId = m.instances?.at(-1) as string | undefined;
      if (!testId) { modules.push({ module, status: 'NOT RUN', result: '', notes: [], pages: [] }); continue; }
      const info = (await this.call('GET', `api/info/${testId}`)).json;
      const notes: string[] = [];
      const pages: ModuleOutcome['pages'] = [];
      if (info.result !== 'PASSED' || info.status !== 'FINISHED') {
        for (const e of (await this.call('GET', `api/log/${testId}`)).json ?? []) {
          if (!['FAILURE', 'WARNING', 'REVIEW'].includes(e.result)) continue;
          if (e.result === 'REVIEW' && typeof e.page_source === 'string') {
            pages.push({ condition: e.src, html: e.page_source });
            notes.push(`REVIEW ${e.src}: page showed "${oneLine(pageText(e.page_source), 200)}"`);
          } else {
            notes.push(`${e.result} ${e.src}: ${oneLine(e.msg ?? '', 220)}`);
          }
        }
      }
      modules.push({ module, status: info.status, result: info.result, notes, pages, testId });
    }
    return { planName: plan.planName, variant: plan.variant, modules };
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

/** The visible text of a captured page (title and scripts left out), for the table. */
export function pageText(html: string): string {
  return html
    .replace(/<(head|script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'")
    .split(/\s+/).join(' ').trim();
}

function oneLine(s: string, n: number): string {
  const t = String(s).split(/\s+/).join(' ');
  return t.length <= n ? t : `${t.slice(0, n)}…`;
}

/** Markdown table of a plan's outcome, with totals. */
export function outcomeTable(title: string, modules: ModuleOutcome[], prefix = /^fapi2-security-profile-final-/): string {
  const totals = new Map<string, number>();
  const lines = [`### ${title}`, '', '| # | module | result | failed conditions / what the page showed |', '|---|---|---|---|'];
  modules.forEach((m, i) => {
    const result = m.status === 'FINISHED' ? m.result : `${m.status}${m.result ? ` ${m.result}` : ''}`;
    totals.set(result, (totals.get(result) ?? 0) + 1);
    const cell = m.notes.slice(0, 8).map((n) => n.replace(/\|/g, '\\|')).join('<br>') + (m.notes.length > 8 ? `<br>(+${m.notes.length - 8} more)` : '');
    lines.push(`| ${i + 1} | ${m.module.replace(prefix, '')} | ${result} | ${cell} |`);
  });
  lines.push('', `Totals: ${[...totals].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
  return lines.join('\n');
}

/** Whether a plan passed as the project requires: all finished, none FAILED, WARNING or INTERRUPTED. */
export function planIsGreen(modules: ModuleOutcome[]): boolean {
  return modules.length > 0 && modules.every((m) => m.status === 'FINISHED' && ['PASSED', 'REVIEW', 'SKIPPED'].includes(m.result));
}
