import { endpoints } from '../api/endpoints';
import type { ServerSettings } from '../api/types';
import { toast } from '../components/Toaster';
import { Card, ErrorRetry, LoadingLines, SelectField, Switch } from '../components/ui';
import { useAsync, useRowActions } from '../lib/hooks';

/** The connector's admin settings: who may add stdio servers, and where users' server URLs may point. */
export function UpstreamSettingsSection() {
  const settings = useAsync<ServerSettings>(() => endpoints.settings(), []);
  const rows = useRowActions();
  const set = (key: keyof ServerSettings, patch: Partial<ServerSettings>) =>
    rows.run(key, async () => {
      settings.setData(await endpoints.updateSettings(patch));
      toast('MCP server settings saved');
    });
  return (
    <Card headingId="upstream-settings-heading" title="MCP servers">
      {settings.error ? (
        <ErrorRetry error={settings.error} onRetry={settings.reload} />
      ) : !settings.data ? (
        <LoadingLines label="Loading settings…" lines={3} height={36} />
      ) : (
        <>
          <SelectField
            label="Who may add stdio servers"
            hint="stdio servers are programs run on this host, in the sandbox"
            value={settings.data.upstream_stdio}
            disabled={rows.busy === 'upstream_stdio'}
            error={rows.errors.upstream_stdio}
            onChange={(e) =>
              void set('upstream_stdio', {
                upstream_stdio: e.target.value as ServerSettings['upstream_stdio'],
              })
            }
          >
            <option value="admins">Administrators</option>
            <option value="users">Every user</option>
            <option value="off">Nobody</option>
          </SelectField>
          <Switch
            label="Allow users' servers on private networks"
            description="Lets users' server URLs reach loopback, link-local and private addresses (this host, the cloud metadata service, your LAN)."
            checked={settings.data.upstream_allow_private_networks}
            busy={rows.busy === 'upstream_allow_private_networks'}
            error={rows.errors.upstream_allow_private_networks}
            onChange={(v) => set('upstream_allow_private_networks', { upstream_allow_private_networks: v })}
          />
          <Switch
            label="Allow users' servers over plain http"
            checked={settings.data.upstream_allow_http}
            busy={rows.busy === 'upstream_allow_http'}
            error={rows.errors.upstream_allow_http}
            onChange={(v) => set('upstream_allow_http', { upstream_allow_http: v })}
          />
        </>
      )}
    </Card>
  );
}
