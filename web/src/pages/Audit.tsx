import { useState } from 'react';
import { endpoints } from '../api/endpoints';
import type { AuditEntry, AuditQuery } from '../api/types';
import { useAuth } from '../auth';
import { PageHeader } from '../components/Layout';
import {
  Badge,
  Button,
  DataTable,
  EmptyState,
  Icon,
  ListStates,
  LoadingLines,
  SelectField,
  TextField,
} from '../components/ui';
import { formatDate } from '../lib/format';
import { useAsync, useDocumentTitle } from '../lib/hooks';
import { setQuery, useLocation } from '../router';

const PAGE_SIZE = 25;

/** Action filters: a dotted prefix matches every action under it (`auth` → `auth.login`, `auth.logout`…). */
const ACTIONS: { value: string; label: string }[] = [
  { value: '', label: 'All actions' },
  { value: 'auth', label: 'Sign-ins and sign-outs' },
  { value: 'user', label: 'Account changes' },
  { value: 'token', label: 'API tokens' },
  { value: 'skill', label: 'Skills' },
  { value: 'command.run', label: 'Command runs' },
  { value: 'admin', label: 'Administration' },
];

const TARGET_KINDS: Record<string, string> = { user: 'user', skill: 'skill', token: 'token' };

function resultTone(result: string): 'success' | 'danger' | 'warning' | 'neutral' {
  if (/^(ok|success|succeeded|allowed)$/i.test(result)) return 'success';
  if (/fail|denied|error|rejected/i.test(result)) return 'danger';
  if (result === 'started') return 'warning';
  return 'neutral';
}

/** Why a result reads as it does, where the word alone does not say. */
const RESULT_HINTS: Record<string, string> = {
  started:
    'Recorded before it ran and not completed: still running, or the server stopped before it finished',
};

/** A date input's value as the first (or last) instant of that local day, in ISO 8601. */
function dayBound(day: string, end: boolean): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const d = new Date(`${day}T00:00:00`);
  if (Number.isNaN(d.getTime())) return undefined;
  if (end) d.setDate(d.getDate() + 1);
  return new Date(d.getTime() - (end ? 1 : 0)).toISOString();
}

/** What an event acted on, in words: "user bob", "skill pdf-tools", "deleted token"… */
function describeTarget(e: AuditEntry): { kind: string | null; name: string } | null {
  if (!e.target) return null;
  const kind = TARGET_KINDS[e.target.split(':')[0] ?? ''] ?? null;
  if (!kind) return { kind: null, name: e.target };
  return { kind, name: e.target_label ?? `deleted ${kind}` };
}

function FilterChip({ label, onClear }: { label: string; onClear: () => void }) {
  return (
    <span className="chip">
      {label}
      <button type="button" className="chip-clear" onClick={onClear} aria-label={`Remove filter: ${label}`}>
        <Icon name="close" />
      </button>
    </span>
  );
}

function Filters({ admin, names }: { admin: boolean; names: { actor?: string; target?: string } }) {
  const { search } = useLocation();
  const get = (k: string) => search.get(k) ?? '';
  const any = ['action', 'result', 'since', 'until', 'actor', 'target'].some((k) => get(k));
  return (
    <div className="audit-filters" role="group" aria-label="Filter events">
      <div className="audit-filter-fields">
        <SelectField
          label="Action"
          value={get('action')}
          onChange={(e) => setQuery({ action: e.currentTarget.value })}
        >
          {ACTIONS.map((a) => (
            <option key={a.value} value={a.value}>
              {a.label}
            </option>
          ))}
        </SelectField>
        <SelectField
          label="Result"
          value={get('result')}
          onChange={(e) => setQuery({ result: e.currentTarget.value })}
        >
          <option value="">Any result</option>
          <option value="success">Success</option>
          <option value="failure">Failure</option>
          <option value="started">Started, not completed</option>
        </SelectField>
        <TextField
          label="From"
          type="date"
          value={get('since')}
          onChange={(e) => setQuery({ since: e.currentTarget.value })}
        />
        <TextField
          label="To"
          type="date"
          value={get('until')}
          onChange={(e) => setQuery({ until: e.currentTarget.value })}
        />
      </div>
      {(get('actor') || get('target') || any) && (
        <div className="audit-chips">
          {admin && get('actor') && (
            <FilterChip label={`By ${names.actor ?? 'one user'}`} onClear={() => setQuery({ actor: null })} />
          )}
          {get('target') && (
            <FilterChip
              label={`On ${names.target ?? get('target')}`}
              onClear={() => setQuery({ target: null })}
            />
          )}
          {any && (
            <Button
              size="sm"
              variant="ghost"
              onClick={() =>
                setQuery({ action: null, result: null, since: null, until: null, actor: null, target: null })
              }
            >
              Clear filters
            </Button>
          )}
        </div>
      )}
    </div>
  );
}

function EventRow({ e, admin }: { e: AuditEntry; admin: boolean }) {
  const target = describeTarget(e);
  return (
    <tr>
      <td data-label="When" className="nowrap">
        {formatDate(e.created_at)}
      </td>
      {admin && (
        <td data-label="Actor">
          {e.actor ? (
            <button
              type="button"
              className="link-button"
              title={`${e.actor.email} — show only their events`}
              aria-label={`${e.actor.username}: show only their events`}
              onClick={() => setQuery({ actor: e.actor!.id })}
            >
              {e.actor.username}
            </button>
          ) : (
            <span className="muted" title="No account: an unknown sign-in, or a deleted user">
              unknown
            </span>
          )}
        </td>
      )}
      <td data-label="Action">
        <code>{e.action}</code>
      </td>
      <td data-label="Target" className="break">
        {!target ? (
          '—'
        ) : target.kind && e.target_label ? (
          <span>
            <span className="muted">{target.kind} </span>
            <button
              type="button"
              className="link-button"
              title={`Show only events on this ${target.kind}`}
              aria-label={`${target.name}: show only events on this ${target.kind}`}
              onClick={() => setQuery({ target: e.target })}
            >
              {target.name}
            </button>
          </span>
        ) : (
          <span className="muted">{target.name}</span>
        )}
      </td>
      <td data-label="Result">
        <Badge tone={resultTone(e.result)} title={RESULT_HINTS[e.result]}>
          {e.result}
        </Badge>
      </td>
      <td data-label="IP">{e.ip ?? '—'}</td>
      <td data-label="Details">
        {e.details && typeof e.details === 'object' && Object.keys(e.details).length > 0 ? (
          <details className="audit-details">
            <summary>Show</summary>
            <pre tabIndex={0} role="region" aria-label={`Details of event ${e.id}`}>
              {JSON.stringify(e.details, null, 2)}
            </pre>
          </details>
        ) : (
          '—'
        )}
      </td>
    </tr>
  );
}

/** The names of the actor and target filtered on, when this page shows them. */
function filterNames(items: AuditEntry[] | null, filter: AuditQuery) {
  return {
    actor: items?.find((e) => e.actor && e.actor.id === filter.actor_id)?.actor?.username,
    target: (() => {
      const hit = items?.find((e) => e.target === filter.target);
      const t = hit && describeTarget(hit);
      return t ? `${t.kind ?? ''} ${t.name}`.trim() : undefined;
    })(),
  };
}

function Pager({
  pageNo,
  loading,
  next,
  cursors,
  onPage,
}: {
  pageNo: number;
  loading: boolean;
  /** The cursor of the next (older) page, if any. */
  next: string | null;
  cursors: (string | null)[];
  onPage: (cursors: (string | null)[]) => void;
}) {
  return (
    <nav className="pager" aria-label="Activity pages">
      <Button onClick={() => onPage(cursors.slice(0, -1))} disabled={pageNo === 1 || loading}>
        Newer
      </Button>
      <span className="muted small" aria-live="polite">
        Page {pageNo}
      </span>
      <Button onClick={() => next && onPage([...cursors, next])} disabled={!next || loading}>
        Older
      </Button>
    </nav>
  );
}

export function AuditPage() {
  const { user } = useAuth();
  const admin = user?.is_admin ?? false;
  const title = admin ? 'All activity' : 'Your activity';
  useDocumentTitle(title);
  const { search } = useLocation();
  const filter: AuditQuery = {
    action: search.get('action') || undefined,
    result: (search.get('result') as AuditQuery['result']) || undefined,
    since: dayBound(search.get('since') ?? '', false),
    until: dayBound(search.get('until') ?? '', true),
    actor_id: (admin && search.get('actor')) || undefined,
    target: search.get('target') || undefined,
  };
  const filterKey = JSON.stringify(filter);
  // Cursor pagination: remember the cursors of pages we came from to go back; a new filter starts over.
  const [stack, setStack] = useState<{ key: string; cursors: (string | null)[] }>({
    key: filterKey,
    cursors: [null],
  });
  const cursors = stack.key === filterKey ? stack.cursors : [null];
  const cursor = cursors[cursors.length - 1] ?? null;
  const page = useAsync(() => endpoints.audit({ ...filter, cursor, limit: PAGE_SIZE }), [filterKey, cursor]);
  const items = page.data?.items ?? null;
  const pageNo = cursors.length;
  const filtered = Object.values(filter).some(Boolean);
  const names = filterNames(items, filter);

  return (
    <>
      <PageHeader
        title={title}
        description={
          admin
            ? 'Security-relevant events of every user on this server: sign-ins, tokens, uploads, command runs and changes.'
            : 'Security-relevant events on your account: sign-ins, tokens, uploads and changes.'
        }
      />
      <section className="card" aria-labelledby="audit-heading">
        <h2 id="audit-heading" className="visually-hidden">
          Events
        </h2>
        <Filters admin={admin} names={names} />
        <ListStates
          items={items}
          error={page.error}
          onRetry={page.reload}
          loading={page.loading}
          placeholder={<LoadingLines label="Loading activity…" lines={8} height={36} />}
          empty={
            <EmptyState
              icon="list"
              title={
                filtered
                  ? 'No events match these filters'
                  : pageNo === 1
                    ? 'No activity yet'
                    : 'No more events'
              }
            >
              {pageNo === 1 && !filtered && (
                <p>Sign-ins, token changes and skill uploads will show up here.</p>
              )}
            </EmptyState>
          }
        >
          {(events) => (
            <DataTable
              columns={
                admin
                  ? ['When', 'Actor', 'Action', 'Target', 'Result', 'IP', 'Details']
                  : ['When', 'Action', 'Target', 'Result', 'IP', 'Details']
              }
              className="audit-table"
            >
              {events.map((e) => (
                <EventRow key={e.id} e={e} admin={admin} />
              ))}
            </DataTable>
          )}
        </ListStates>
        <Pager
          pageNo={pageNo}
          loading={page.loading}
          next={page.data?.next_cursor ?? null}
          onPage={(cursors) => setStack({ key: filterKey, cursors })}
          cursors={cursors}
        />
      </section>
    </>
  );
}
