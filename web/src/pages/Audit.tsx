import { useState } from 'react';
import { endpoints } from '../api/endpoints';
import { PageHeader } from '../components/Layout';
import { Badge, Button, DataTable, EmptyState, ListStates, LoadingLines } from '../components/ui';
import { formatDate } from '../lib/format';
import { useAsync, useDocumentTitle } from '../lib/hooks';

const PAGE_SIZE = 25;

function resultTone(result: string): 'success' | 'danger' | 'neutral' {
  if (/^(ok|success|succeeded|allowed)$/i.test(result)) return 'success';
  if (/fail|denied|error|rejected/i.test(result)) return 'danger';
  return 'neutral';
}

export function AuditPage() {
  useDocumentTitle('Activity');
  // Cursor pagination: remember the cursors of pages we came from to go back.
  const [stack, setStack] = useState<(string | null)[]>([null]);
  const cursor = stack[stack.length - 1] ?? null;
  const page = useAsync((_s) => endpoints.audit(cursor, PAGE_SIZE), [cursor]);
  const items = page.data?.items ?? null;
  const pageNo = stack.length;

  return (
    <>
      <PageHeader
        title="Activity"
        description="Security-relevant events on your account: sign-ins, tokens, uploads and changes."
      />
      <section className="card" aria-labelledby="audit-heading">
        <h2 id="audit-heading" className="visually-hidden">
          Events
        </h2>
        <ListStates
          items={items}
          error={page.error}
          onRetry={page.reload}
          loading={page.loading}
          placeholder={<LoadingLines label="Loading activity…" lines={8} height={36} />}
          empty={
            <EmptyState icon="list" title={pageNo === 1 ? 'No activity yet' : 'No more events'}>
              {pageNo === 1 && <p>Sign-ins, token changes and skill uploads will show up here.</p>}
            </EmptyState>
          }
        >
          {(events) => (
            <DataTable
              columns={['When', 'Action', 'Target', 'Result', 'IP', 'Details']}
              className="audit-table"
            >
              {events.map((e) => (
                <tr key={e.id}>
                  <td data-label="When" className="nowrap">
                    {formatDate(e.created_at)}
                  </td>
                  <td data-label="Action">
                    <code>{e.action}</code>
                  </td>
                  <td data-label="Target" className="break">
                    {e.target ?? '—'}
                  </td>
                  <td data-label="Result">
                    <Badge tone={resultTone(e.result)}>{e.result}</Badge>
                  </td>
                  <td data-label="IP">{e.ip ?? '—'}</td>
                  <td data-label="Details">
                    {e.details && typeof e.details === 'object' && Object.keys(e.details).length > 0 ? (
                      <details className="audit-details">
                        <summary>Show</summary>
                        <pre>{JSON.stringify(e.details, null, 2)}</pre>
                      </details>
                    ) : (
                      '—'
                    )}
                  </td>
                </tr>
              ))}
            </DataTable>
          )}
        </ListStates>
        <nav className="pager" aria-label="Activity pages">
          <Button onClick={() => setStack((s) => s.slice(0, -1))} disabled={pageNo === 1 || page.loading}>
            Newer
          </Button>
          <span className="muted small" aria-live="polite">
            Page {pageNo}
          </span>
          <Button
            onClick={() => page.data?.next_cursor && setStack((s) => [...s, page.data!.next_cursor])}
            disabled={!page.data?.next_cursor || page.loading}
          >
            Older
          </Button>
        </nav>
      </section>
    </>
  );
}
