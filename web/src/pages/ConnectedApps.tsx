import { useState } from 'react';
import { endpoints } from '../api/endpoints';
import type { OAuthConnection } from '../api/types';
import { ConfirmDialog } from '../components/Dialog';
import { toast } from '../components/Toaster';
import { Button, Card, DataTable, EmptyState, ListStates, LoadingLines } from '../components/ui';
import { formatDay, formatRelative } from '../lib/format';
import { useAsync } from '../lib/hooks';

const appName = (c: OAuthConnection) => c.client_name ?? c.client_id;

/**
 * The MCP clients the user authorized by signing in (OAuth), with their skills and last use; revoking one
 * stops its tokens at once.
 */
export function ConnectedAppsCard() {
  const list = useAsync((_s) => endpoints.listConnections(), []);
  const [revoke, setRevoke] = useState<OAuthConnection | null>(null);
  return (
    <Card headingId="connected-apps-heading" title="Connected applications">
      <ListStates
        items={list.data?.data ?? null}
        error={list.error}
        onRetry={list.reload}
        placeholder={<LoadingLines label="Loading connected applications…" lines={2} height={44} />}
        empty={
          <EmptyState icon="key" title="No connected applications">
            <p>
              MCP clients that you connect by signing in (no token to paste) appear here, and you can
              disconnect them at any time.
            </p>
          </EmptyState>
        }
      >
        {(apps) => (
          <DataTable columns={['Application', 'Skills', 'Connected', 'Last used']} actions>
            {apps.map((c) => (
              <tr key={c.id}>
                <td data-label="Application">
                  <strong>{appName(c)}</strong>
                  {c.client_name && <div className="muted small">{c.client_id}</div>}
                </td>
                <td data-label="Skills">
                  {c.restriction ? c.restriction.skills.join(', ') || 'None' : 'All'}
                </td>
                <td data-label="Connected">{formatDay(c.created_at)}</td>
                <td data-label="Last used">{c.last_used_at ? formatRelative(c.last_used_at) : 'Never'}</td>
                <td className="cell-actions">
                  <Button
                    size="sm"
                    variant="ghost"
                    onClick={() => setRevoke(c)}
                    aria-label={`Disconnect ${appName(c)}`}
                  >
                    Disconnect
                  </Button>
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </ListStates>
      <ConfirmDialog
        open={revoke !== null}
        title={`Disconnect “${revoke ? appName(revoke) : ''}”?`}
        confirmLabel="Disconnect"
        danger
        onClose={() => setRevoke(null)}
        onConfirm={async () => {
          if (!revoke) return;
          await endpoints.revokeConnection(revoke.id);
          list.setData((prev) => (prev ? { data: prev.data.filter((x) => x.id !== revoke.id) } : prev));
          setRevoke(null);
          toast(`“${appName(revoke)}” disconnected`);
        }}
      >
        <p>Its access stops immediately. It can ask you again, and you decide again.</p>
      </ConfirmDialog>
    </Card>
  );
}
