import { createRoute } from '@hono/zod-openapi';
import type { Authenticator } from '../accounts/index.js';
import {
  requirePermission,
  bearerSecurity,
  createRouter,
  errorResponses,
  json,
  jsonBody,
  PageQuery,
  pageOf,
  PERMISSION_EXTENSION,
  z,
  type PermissionGuard,
} from '../http/index.js';
import { badRequest } from '../shared/errors.js';
import { assertStorableInput } from '../shared/text.js';
import { isTextType } from './package/index.js';
import { createSkillZipStream } from './package/index.js';
import type { SkillsService } from './service.js';
import type { Uploads } from './upload.js';

const Skill = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string(),
    origin: z.enum(['own', 'shared']),
    enabled: z.boolean(),
    hidden: z.boolean(),
    shared: z.boolean(),
    current_version: z.number().int(),
    version_label: z.string().nullable(),
    warnings: z.array(z.string()),
    file_count: z.number().int(),
    size_bytes: z.number().int(),
    license: z.string().nullable(),
    compatibility: z.string().nullable(),
    metadata: z.record(z.string(), z.string()),
    run_commands_enabled: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Skill');

const Version = z
  .object({
    number: z.number().int(),
    label: z.string().nullable(),
    created_at: z.string(),
    file_count: z.number().int(),
    size_bytes: z.number().int(),
    is_current: z.boolean(),
    warnings: z.array(z.string()),
  })
  .openapi('SkillVersion');

const UploadResult = z
  .object({ skill: Skill, version: Version, warnings: z.array(z.string()) })
  .openapi('UploadResult');
const FileEntry = z
  .object({
    path: z.string(),
    size: z.number().int(),
    executable: z.boolean(),
    sha256: z.string(),
    content_type: z.string(),
  })
  .openapi('SkillFile');

const NameParam = z.object({ name: z.string().min(1).max(128) });
const VersionRef = z
  .string()
  .regex(/^(latest|[1-9][0-9]{0,8})$/, 'a version number or "latest"')
  .transform((v) => (v === 'latest' ? ('latest' as const) : Number(v)));
const VersionParams = NameParam.extend({ version: VersionRef });

const archiveBody = {
  required: true,
  description:
    'The skill as a zip or .skill file: the raw body (`application/zip`) or the `file` field of `multipart/form-data`. ' +
    'SKILL.md at the archive root or inside exactly one top-level folder.',
  content: {
    'application/zip': { schema: z.string().openapi({ type: 'string', format: 'binary' }) },
    // A plain schema, not zod: a zod form schema would make the router parse the body instead of streaming it.
    'multipart/form-data': {
      schema: {
        type: 'object' as const,
        properties: { file: { type: 'string' as const, format: 'binary' } },
        required: ['file'],
      },
    },
  },
};

export interface SkillsRoutesDeps {
  skills: SkillsService;
  auth: Authenticator;
  uploads: Uploads;
}

/** What each group of these routes gets: the deps, and the permission guard built once for all of them. */
type GroupDeps = SkillsRoutesDeps & { guard: PermissionGuard };

export function skillsRoutes(deps: SkillsRoutesDeps) {
  const app = createRouter();
  const groups: GroupDeps = { ...deps, guard: (action) => requirePermission(deps.auth, action) };
  app.route('/', collectionRoutes(groups));
  app.route('/', oneSkillRoutes(groups));
  app.route('/', versionRoutes(groups));
  app.route('/', versionFileRoutes(groups));
  return app;
}

/** `/skills`: list skills, upload a new one. */
function collectionRoutes({ skills, guard, uploads }: GroupDeps) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/skills',
      tags: ['skills'],
      summary: 'List your skills and shared ones (full-text `q`, ranked)',
      security: bearerSecurity,
      middleware: [guard('skills.list')] as const,
      request: {
        query: PageQuery.extend({
          q: z.string().max(200).optional(),
          scope: z.enum(['all', 'own', 'shared']).default('all'),
          include_disabled: z.enum(['true', 'false']).default('false'),
        }),
      },
      responses: { 200: json(pageOf(Skill)), ...errorResponses(400, 401) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await skills.list(c.get('principal'), {
        q: q.q?.trim() || undefined,
        scope: q.scope,
        includeDisabled: q.include_disabled === 'true',
        cursor: q.cursor,
        limit: q.limit,
      });
      return c.json(page, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/skills',
      tags: ['skills'],
      summary: 'Upload a new skill (version 1)',
      security: bearerSecurity,
      middleware: [guard('skills.create')] as const,
      request: { body: archiveBody },
      responses: { 201: json(UploadResult, 'Created'), ...errorResponses(400, 401, 409, 413, 422, 503) },
    }),
    async (c) => {
      const result = await uploads.ingest(c.req.raw, (pkg) =>
        skills.create(c.get('principal'), pkg, c.get('clientIp')),
      );
      return c.json(result, 201);
    },
  );

  return app;
}

/** `/skills/{name}`: read one skill, change it (enable, allow commands, share, hide), delete it. */
function oneSkillRoutes({ skills, guard }: GroupDeps) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/skills/{name}',
      tags: ['skills'],
      summary: 'One skill you can see',
      security: bearerSecurity,
      middleware: [guard('skills.read')] as const,
      request: { params: NameParam },
      responses: { 200: json(Skill), ...errorResponses(401, 404) },
    }),
    async (c) => c.json(await skills.get(c.get('principal'), c.req.valid('param').name), 200),
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/skills/{name}',
      tags: ['skills'],
      summary: 'Enable/disable, allow commands, share (admin) or hide (shared skills)',
      security: bearerSecurity,
      middleware: [guard('skills.manage')] as const,
      request: {
        params: NameParam,
        body: jsonBody(
          z
            .object({
              enabled: z.boolean().optional(),
              run_commands_enabled: z.boolean().optional(),
              shared: z.boolean().optional(),
              hidden: z.boolean().optional(),
            })
            .strict(),
        ),
      },
      responses: { 200: json(Skill), ...errorResponses(400, 401, 403, 404) },
    }),
    async (c) =>
      c.json(
        await skills.update(
          c.get('principal'),
          c.req.valid('param').name,
          c.req.valid('json'),
          c.get('clientIp'),
        ),
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/skills/{name}',
      tags: ['skills'],
      summary: 'Delete your skill with all its versions',
      security: bearerSecurity,
      middleware: [guard('skills.manage')] as const,
      request: { params: NameParam },
      responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404) },
    }),
    async (c) => {
      await skills.delete(c.get('principal'), c.req.valid('param').name, c.get('clientIp'));
      return c.body(null, 204);
    },
  );

  return app;
}

/** `/skills/{name}/versions`: upload a new version, list them, roll back to one, delete one. */
function versionRoutes({ skills, guard, uploads }: GroupDeps) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'post',
      path: '/skills/{name}/versions',
      tags: ['skills'],
      summary: 'Upload a new version (the complete file set; the name must stay the same)',
      security: bearerSecurity,
      middleware: [guard('skills.manage')] as const,
      request: { params: NameParam, body: archiveBody },
      responses: { 201: json(UploadResult, 'Created'), ...errorResponses(400, 401, 403, 404, 413, 422, 503) },
    }),
    async (c) => {
      const name = c.req.valid('param').name;
      // Resolve first so that a missing skill is a 404 before any upload work.
      await skills.get(c.get('principal'), name);
      const result = await uploads.ingest(c.req.raw, (pkg) =>
        skills.addVersion(c.get('principal'), name, pkg, c.get('clientIp')),
      );
      return c.json(result, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/skills/{name}/versions',
      tags: ['skills'],
      summary: "A skill's versions, newest first",
      security: bearerSecurity,
      middleware: [guard('skills.read')] as const,
      request: { params: NameParam },
      responses: { 200: json(pageOf(Version)), ...errorResponses(401, 404) },
    }),
    async (c) => c.json(await skills.listVersions(c.get('principal'), c.req.valid('param').name), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/skills/{name}/rollback',
      tags: ['skills'],
      summary: 'Make an earlier version current',
      security: bearerSecurity,
      middleware: [guard('skills.manage')] as const,
      request: { params: NameParam, body: jsonBody(z.object({ version: z.number().int().min(1) })) },
      responses: { 200: json(Skill), ...errorResponses(400, 401, 403, 404) },
    }),
    async (c) =>
      c.json(
        await skills.rollback(
          c.get('principal'),
          c.req.valid('param').name,
          c.req.valid('json').version,
          c.get('clientIp'),
        ),
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/skills/{name}/versions/{version}',
      tags: ['skills'],
      summary: 'Delete a version (never the current one)',
      security: bearerSecurity,
      middleware: [guard('skills.manage')] as const,
      request: { params: NameParam.extend({ version: z.coerce.number().int().min(1) }) },
      responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404, 409) },
    }),
    async (c) => {
      const p = c.req.valid('param');
      await skills.deleteVersion(c.get('principal'), p.name, p.version, c.get('clientIp'));
      return c.body(null, 204);
    },
  );

  return app;
}

/** A version's files: its file tree, the whole version as a zip, one file's bytes. */
function versionFileRoutes({ skills, guard }: GroupDeps) {
  const app = createRouter();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/skills/{name}/versions/{version}/files',
      tags: ['skills'],
      summary: "A version's file tree",
      security: bearerSecurity,
      middleware: [guard('skills.read')] as const,
      request: { params: VersionParams },
      responses: { 200: json(z.object({ files: z.array(FileEntry) })), ...errorResponses(400, 401, 404) },
    }),
    async (c) => {
      const p = c.req.valid('param');
      return c.json({ files: await skills.files(c.get('principal'), p.name, p.version) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/skills/{name}/versions/{version}/content',
      tags: ['skills'],
      summary: 'Download a version as a zip (top-level folder named after the skill)',
      security: bearerSecurity,
      middleware: [guard('skills.read')] as const,
      request: { params: VersionParams },
      responses: {
        200: {
          description: 'The zip',
          content: { 'application/zip': { schema: z.string().openapi({ format: 'binary' }) } },
        },
        ...errorResponses(400, 401, 404),
      },
    }),
    async (c) => {
      const p = c.req.valid('param');
      const { skill, version, files } = await skills.versionContents(c.get('principal'), p.name, p.version);
      const stream = createSkillZipStream(skill.name, files);
      return new Response(stream as unknown as ReadableStream, {
        headers: {
          'Content-Type': 'application/zip',
          'Content-Disposition': `attachment; filename="${skill.name}-v${version.number}.zip"`,
        },
      });
    },
  );

  // One file's bytes. A wildcard path does not fit the OpenAPI route helper, so it is documented by hand below.
  app.get('/skills/:name/versions/:version/files/*', guard('skills.read'), async (c) => {
    const name = c.req.param('name');
    const prefix = `/files/`;
    const idx = c.req.path.indexOf(prefix);
    let filePath: string;
    try {
      filePath = decodeURIComponent(c.req.path.slice(idx + prefix.length));
    } catch {
      throw badRequest('The file path is not valid URL encoding');
    }
    // No zod validator here, so the text check validationHook makes for every other route is made by hand.
    assertStorableInput({ name, version: c.req.param('version'), path: filePath }, 'path');
    const parsedVersion = VersionRef.safeParse(c.req.param('version'));
    if (!parsedVersion.success) throw badRequest('Version must be a number or "latest"');
    const file = await skills.readFile(c.get('principal'), name, parsedVersion.data, filePath);
    const headers: Record<string, string> = {
      'Content-Type': file.contentType,
      'Content-Length': String(file.data.length),
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'none'; sandbox",
    };
    if (!isTextType(file.contentType)) {
      headers['Content-Disposition'] =
        `attachment; filename="${encodeURIComponent(filePath.split('/').pop()!)}"`;
    }
    return c.body(new Uint8Array(file.data), 200, headers);
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/skills/{name}/versions/{version}/files/{path}',
    tags: ['skills'],
    summary: "One file's contents (text is served as text; anything else as a download)",
    security: bearerSecurity,
    [PERMISSION_EXTENSION]: 'skills.read',
    request: { params: z.object({ name: z.string(), version: z.string(), path: z.string() }) },
    responses: { 200: { description: 'The file' }, ...errorResponses(401, 404) },
  });

  return app;
}
