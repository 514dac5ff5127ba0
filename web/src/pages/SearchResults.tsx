import { useEffect, useState } from 'react';
import { endpoints } from '../api/endpoints';
import type { SearchResults } from '../api/types';
import { Badge, Card, ErrorText, LoadingLines } from '../components/ui';
import { Link } from '../router';

const MATCH_LABEL = { text: 'words', semantic: 'meaning', both: 'words + meaning' } as const;

/**
 * The best matches for a query among the skills and tools the user can use (`/api/v1/search`), with how each
 * was found, and a plain statement when search runs on words alone (no embeddings provider configured).
 */
export function BestMatches({ q }: { q: string }) {
  const [answer, setAnswer] = useState<SearchResults | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    setAnswer(null);
    setError(null);
    endpoints.search(q, 8).then(
      (a) => live && setAnswer(a),
      (err: unknown) => live && setError(err),
    );
    return () => {
      live = false;
    };
  }, [q]);
  return (
    <Card headingId="best-matches-heading" title="Best matches">
      {error ? (
        <ErrorText error={error} />
      ) : !answer ? (
        <LoadingLines label="Searching…" lines={2} height={28} />
      ) : (
        <>
          <p className="muted small" role="status">
            {answer.mode === 'hybrid'
              ? 'Ranked by words and meaning (hybrid search).'
              : 'Matching words only: search by meaning is off, because no embeddings provider is configured on this server.'}
          </p>
          {answer.results.length === 0 ? (
            <p className="muted">Nothing matches “{q}”.</p>
          ) : (
            <ul className="share-list">
              {answer.results.map((r) => (
                <li key={`${r.kind}:${r.name}`}>
                  <div className="share-info">
                    {r.kind === 'skill' ? (
                      <Link to={`/skills/${encodeURIComponent(r.name)}`}>{r.name}</Link>
                    ) : (
                      <code>{r.name}</code>
                    )}
                    <span className="muted small">{r.description}</span>
                  </div>
                  <span className="badges">
                    <Badge>{r.kind}</Badge>
                    <Badge tone={r.match === 'text' ? 'neutral' : 'accent'} title="How it was found">
                      {MATCH_LABEL[r.match]}
                    </Badge>
                  </span>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </Card>
  );
}
