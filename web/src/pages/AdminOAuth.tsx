import { useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { errorMessage } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { ServerSettings } from '../api/types';
import { toast } from '../components/Toaster';
import { Button, Card, ErrorRetry, LoadingLines, Switch, TextArea } from '../components/ui';
import { useAsync, useRowActions } from '../lib/hooks';

/**
 * Which MCP clients may ask users for access through OAuth: whether clients may register themselves (RFC 7591;
 * clients identified by a metadata document URL work either way), and an optional list of allowed client ids.
 */
export function OAuthSettingsSection() {
  const settings = useAsync<ServerSettings>(() => endpoints.settings(), []);
  const rows = useRowActions();
  const [allowed, setAllowed] = useState('');
  const [saving, setSaving] = useState(false);
  useEffect(() => {
    if (settings.data) setAllowed(settings.data.oauth_allowed_clients.join('\n'));
  }, [settings.data]);

  const setRegistration = (on: boolean) =>
    rows.run('registration', async () => {
      settings.setData(await endpoints.updateSettings({ oauth_dynamic_registration: on }));
      toast(on ? 'Clients may register themselves' : 'Client registration is off');
    });
  const saveAllowed = async (e: FormEvent) => {
    e.preventDefault();
    setSaving(true);
    try {
      const list = allowed
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      settings.setData(await endpoints.updateSettings({ oauth_allowed_clients: list }));
      toast(
        list.length ? `Only ${list.length} client(s) may ask for access` : 'Any client may ask for access',
      );
    } catch (err) {
      toast(errorMessage(err), 'error');
    } finally {
      setSaving(false);
    }
  };

  return (
    <Card headingId="oauth-settings-heading" title="MCP clients signing in (OAuth)">
      {settings.error ? (
        <ErrorRetry error={settings.error} onRetry={settings.reload} />
      ) : !settings.data ? (
        <LoadingLines label="Loading settings…" lines={2} height={36} />
      ) : (
        <form onSubmit={saveAllowed}>
          <Switch
            label="Let clients register themselves"
            description="Dynamic client registration (RFC 7591), used by clients that do not publish a Client ID Metadata Document. Clients identified by their metadata document URL work either way."
            checked={settings.data.oauth_dynamic_registration}
            busy={rows.busy === 'registration'}
            error={rows.errors.registration}
            onChange={setRegistration}
          />
          <TextArea
            label="Allowed clients"
            hint="One client id per line (a metadata document URL such as https://app.example/oauth/client.json, or a registered id). Empty: any client may ask users for access."
            rows={4}
            value={allowed}
            onChange={(e) => setAllowed(e.target.value)}
          />
          <Button type="submit" variant="secondary" busy={saving}>
            Save allowed clients
          </Button>
        </form>
      )}
    </Card>
  );
}
