import { sql } from 'drizzle-orm';
import type { Executor } from '../db/index.js';
import type { SkillsService } from '../skills/index.js';
import type { SearchDocumentInput, SearchSource } from './documents.js';

/**
 * The skill library as a search source: one document per skill, for its current version (name, description,
 * SKILL.md body). The current version's id is the content hash: a new version or a rollback re-indexes, a
 * toggle of enabled/shared does not (visibility is decided at query time). Deleted skills take their document
 * with them (foreign key), so nothing is ever `removed`.
 */
export function skillsSource(skills: SkillsService): SearchSource {
  return {
    kind: 'skill',
    async outdated(db: Executor, limit: number): Promise<SearchDocumentInput[]> {
      const result = await db.execute(sql`
        select s.id, s.name, s.description, s.current_version_id from skills s
        left join search_documents d on d.kind = 'skill' and d.source_key = s.id::text
        where s.current_version_id is not null
          and (d.id is null or d.content_hash <> s.current_version_id::text)
        order by s.id limit ${limit}`);
      const rows = ((result as { rows?: unknown[] }).rows ?? result) as Array<{
        id: string;
        name: string;
        description: string;
        current_version_id: string;
      }>;
      const docs: SearchDocumentInput[] = [];
      for (const r of rows) {
        const body = await skills.skillMdText(db, r.current_version_id);
        docs.push({
          kind: 'skill',
          sourceKey: r.id,
          skillId: r.id,
          name: r.name,
          description: r.description,
          contentHash: r.current_version_id,
          embedText: `${r.name.replace(/-/g, ' ')}\n${r.description}\n${body}`,
        });
      }
      return docs;
    },
    removed: async () => [],
    onChange(listener) {
      skills.events.on('change', listener);
      return () => skills.events.off('change', listener);
    },
  };
}
