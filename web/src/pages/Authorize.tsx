import { useEffect, useState } from 'react';
import { endpoints } from '../api/endpoints';
import type { OAuthAuthorizationRequest, Skill } from '../api/types';
import { useAuth } from '../auth';
import { PageHeader } from '../components/Layout';
import { Alert, Button, Card, ErrorText, Skeleton } from '../components/ui';
import { useDocumentTitle } from '../lib/hooks';

function hostOf(uri: string): string {
  try {
    return new URL(uri).host || uri;
  } catch {
    return uri;
  }
}

/**
 * The OAuth consent page: an MCP client asks to use this account's skills through MCP. The user sees which
 * client (its name, its id, where it sends the answer), chooses all skills or a few (the same restriction as
 * an API key) and approves or declines; the browser then hands the decision back to the authorization server.
 */
export function AuthorizePage({ uid }: { uid: string }) {
  useDocumentTitle('Authorize an application');
  const { user } = useAuth();
  const [request, setRequest] = useState<OAuthAuthorizationRequest | null>(null);
  const [skills, setSkills] = useState<Skill[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [onlySome, setOnlySome] = useState(false);
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState<'approve' | 'decline' | null>(null);

  useEffect(() => {
    endpoints.authorization(uid).then(setRequest, setError);
    endpoints.listSkills({ limit: 100 }).then(
      (page) => setSkills(page.items),
      () => undefined,
    );
  }, [uid]);

  async function decide(approve: boolean) {
    setBusy(approve ? 'approve' : 'decline');
    try {
      const restriction = approve && onlySome ? { skills: [...chosen] } : null;
      const { redirect_to } = await endpoints.decideAuthorization(uid, { approve, restriction });
      window.location.assign(redirect_to);
    } catch (err) {
      setError(err);
      setBusy(null);
    }
  }

  if (error && !request) {
    return (
      <>
        <PageHeader title="Authorize an application" />
        <Alert title="This request cannot be answered">
          <ErrorText error={error} />
        </Alert>
      </>
    );
  }
  if (!request) return <Skeleton lines={3} height={60} />;
  const name = request.client.name ?? hostOf(request.client.id);
  const toggle = (skill: string) =>
    setChosen((prev) => {
      const next = new Set(prev);
      if (next.has(skill)) next.delete(skill);
      else next.add(skill);
      return next;
    });

  return (
    <>
      <PageHeader title={`${name} wants to use your skills`} />
      <ClientCard request={request} name={name} username={user?.username} />
      <Card headingId="authorize-skills" title="Which skills">
        <div className="stack">
          <label className="checkbox">
            <input type="radio" name="scope" checked={!onlySome} onChange={() => setOnlySome(false)} />
            All of my skills
          </label>
          <label className="checkbox">
            <input type="radio" name="scope" checked={onlySome} onChange={() => setOnlySome(true)} />
            Only these skills
          </label>
          {onlySome && (
            <fieldset className="fieldset">
              <legend>Skills this application may use</legend>
              {skills.map((s) => (
                <label key={s.id} className="checkbox">
                  <input type="checkbox" checked={chosen.has(s.name)} onChange={() => toggle(s.name)} />
                  {s.name}
                </label>
              ))}
            </fieldset>
          )}
        </div>
      </Card>
      {error !== null && <ErrorText error={error} />}
      <div className="form-actions">
        <Button
          variant="primary"
          busy={busy === 'approve'}
          disabled={busy !== null || (onlySome && chosen.size === 0)}
          onClick={() => decide(true)}
        >
          Allow
        </Button>
        <Button busy={busy === 'decline'} disabled={busy !== null} onClick={() => decide(false)}>
          Decline
        </Button>
      </div>
    </>
  );
}

/** Who asks: the client's name and id, where the answer goes, and what it may do. */
function ClientCard({
  request,
  name,
  username,
}: {
  request: OAuthAuthorizationRequest;
  name: string;
  username: string | undefined;
}) {
  return (
    <Card headingId="authorize-client" title="The application">
      <dl className="details">
        <div className="details-row">
          <dt>Name</dt>
          <dd data-testid="client-name">{name}</dd>
        </div>
        <div className="details-row">
          <dt>Client id</dt>
          <dd>
            <code>{request.client.id}</code>{' '}
            <span className="muted small">
              {request.client.registration === 'metadata_document'
                ? '(identified by its metadata document)'
                : '(registered itself with this server)'}
            </span>
          </dd>
        </div>
        <div className="details-row">
          <dt>Answer goes to</dt>
          <dd>
            <code>{hostOf(request.redirect_uri)}</code>
          </dd>
        </div>
        <div className="details-row">
          <dt>Signed in as</dt>
          <dd>{username}</dd>
        </div>
      </dl>
      <p>
        It asks for <strong>MCP access</strong> to <code>{request.resource}</code>: listing, reading and
        running your skills as you. It cannot manage your account, keys or skills.
      </p>
    </Card>
  );
}
