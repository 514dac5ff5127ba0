import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseEnv } from '../../src/config/index.js';
import { ROOT } from '../helpers/build.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * What ships for deployment, checked as far as a machine without a Docker engine allows: the compose file as
 * Compose itself resolves it, the load balancer's config as haproxy parses it, the alert rules and the dashboard
 * as promtool parses and unit-tests them, and the metric names they use against a live server's /metrics.
 */
const repo = (...p: string[]) => path.join(ROOT, ...p);
const scratch = mkdtempSync(path.join(tmpdir(), 'skillport-deploy-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** deploy/env.example with every value filled in, as a user would. */
function sampleEnv(): Record<string, string> {
  const values: Record<string, string> = {
    SECRET_KEY: 'k'.repeat(48),
    POSTGRES_PASSWORD: 'pg-password',
    METRICS_TOKEN: 'metrics-token-0123456789',
    S3_ACCESS_KEY_ID: 'skillport',
    S3_SECRET_ACCESS_KEY: 's3-secret-0123456789',
    PUBLIC_URL: 'http://localhost:8080',
  };
  const names = readFileSync(repo('deploy/env.example'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z0-9_]+=/.test(l))
    .map((l) => l.split('=')[0]!);
  expect(names.sort()).toEqual(Object.keys(values).sort());
  return values;
}

function compose(args: string[], env: Record<string, string>) {
  const docker = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  const [cmd, pre] = docker.status === 0 ? ['docker', ['compose']] : ['docker-compose', []];
  return spawnSync(cmd, [...pre, '-f', repo('docker-compose.yml'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: scratch, ...env },
  });
}

describe('docker-compose.yml', () => {
  let resolved: any;
  beforeAll(() => {
    const r = compose(['config'], sampleEnv());
    expect(r.status, r.stderr).toBe(0);
    resolved = parseYaml(r.stdout);
  });

  it('runs two app replicas behind a load balancer, with PostgreSQL (pgvector), Redis, S3 and Prometheus', () => {
    expect(Object.keys(resolved.services).sort()).toEqual([
      'app',
      'lb',
      'minio',
      'postgres',
      'prometheus',
      'redis',
    ]);
    expect(resolved.services.app.deploy.replicas).toBe(2);
    expect(resolved.services.postgres.image).toMatch(/^pgvector\/pgvector:/);
    for (const s of ['app', 'postgres', 'redis', 'minio'])
      expect(resolved.services[s].healthcheck.test).toBeTruthy();
    for (const dep of ['postgres', 'redis', 'minio']) {
      expect(resolved.services.app.depends_on[dep].condition).toBe('service_healthy');
    }
  });

  it('keeps state in named volumes and mounts only files that exist in the repository', () => {
    expect(Object.keys(resolved.volumes).sort()).toEqual(
      ['app-data', 'minio-data', 'postgres-data', 'prometheus-data', 'redis-data'].sort(),
    );
    const binds = Object.values(resolved.services).flatMap((s: any) =>
      (s.volumes ?? []).map((v: any) => (typeof v === 'string' ? v.split(':')[0] : v.source)),
    );
    const hostPaths = binds.filter((b: string) => b.startsWith('/'));
    expect(hostPaths.length).toBeGreaterThanOrEqual(3);
    for (const p of hostPaths) expect(existsSync(p), p).toBe(true);
    const context = resolved.services.app.build.context ?? resolved.services.app.build;
    expect(existsSync(path.join(context, 'Dockerfile'))).toBe(true);
  });

  it('gives the app a configuration Skillport accepts, every variable documented in the README', () => {
    const env = resolved.services.app.environment as Record<string, string>;
    expect(() => parseEnv(env)).not.toThrow();
    const readme = readFileSync(repo('README.md'), 'utf8');
    for (const name of Object.keys(env)) expect(readme, `${name} in README`).toContain(`\`${name}\``);
  });

  it('refuses to start without its secrets, naming the missing one', () => {
    const { SECRET_KEY: _omitted, ...rest } = sampleEnv();
    const r = compose(['config'], rest);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('SECRET_KEY');
  });
});

describe('Dockerfile', () => {
  it('builds and installs the package tarball with the steps the package test runs', () => {
    const runs = readFileSync(repo('Dockerfile'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('RUN '))
      .join('\n');
    expect(runs).toContain('npm ci --ignore-scripts');
    expect(runs).toContain(
      'npm run build && mkdir /pkg && npm pack --ignore-scripts --pack-destination /pkg',
    );
    expect(runs).toContain('npm install -g --no-audit --no-fund /pkg/skillport-*.tgz');
    const packageTest = readFileSync(repo('test/ops/package.test.ts'), 'utf8');
    expect(packageTest).toContain("'pack', '--ignore-scripts', '--pack-destination'");
    expect(packageTest).toContain("'install', '-g', '--prefix'");
  });
});

describe('haproxy configuration', () => {
  it('parses', () => {
    const r = spawnSync('haproxy', ['-c', '-f', repo('deploy/haproxy/haproxy.cfg')], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain('WARNING');
  });
});

describe('monitoring', () => {
  const promtool = (args: string[]) =>
    spawnSync('promtool', args, { cwd: repo('deploy/prometheus'), encoding: 'utf8' });
  const dashboard = JSON.parse(readFileSync(repo('deploy/grafana/skillport-dashboard.json'), 'utf8'));
  const dashboardExprs: string[] = dashboard.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));

  it('alert rules pass promtool check and their unit tests', () => {
    const check = promtool(['check', 'rules', 'alerts.yml']);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('SUCCESS: 7 rules found');
    const unit = promtool(['test', 'rules', 'alerts.test.yml']);
    expect(unit.status, unit.stdout + unit.stderr).toBe(0);
  });

  it("the guide's thresholds each have an alert", () => {
    const rules = parseYaml(readFileSync(repo('deploy/prometheus/alerts.yml'), 'utf8')).groups[0].rules;
    const expr = (name: string) => rules.find((r: any) => r.alert === name)?.expr as string;
    expect(expr('SkillportHighLatencyP99')).toMatch(/histogram_quantile\(0\.99,[\s\S]*> 1\s*$/);
    expect(expr('SkillportDatabaseUnreachable')).toContain('skillport_database_up == 0');
    expect(expr('SkillportDiskAlmostFull')).toContain('> 0.80');
    expect(expr('SkillportMemoryHigh')).toContain('> 0.85');
    expect(expr('SkillportServerErrors')).toContain('> 0.01');
    expect(expr('SkillportTokenUseSpike')).toContain('skillport_credential_uses_total');
  });

  it('every dashboard query is valid PromQL', () => {
    expect(dashboardExprs.length).toBeGreaterThanOrEqual(10);
    const file = path.join(scratch, 'dashboard-rules.yml');
    const rules = dashboardExprs.map((expr, i) => ({ record: `dashboard:panel_${i}`, expr }));
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
    const check = promtool(['check', 'rules', file]);
    expect(check.status, check.stdout + check.stderr).toBe(0);
  });

  describe('against a live server', () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer({ METRICS_TOKEN: 'metrics-token-0123456789' });
    });
    afterAll(() => server?.close());

    it('exposes every metric the rules and the dashboard use', async () => {
      await fetch(`${server.baseUrl}/health`);
      const res = await fetch(`${server.baseUrl}/metrics`, {
        headers: { authorization: 'Bearer metrics-token-0123456789' },
      });
      expect(res.status).toBe(200);
      const exposed = new Set(
        (await res.text())
          .split('\n')
          .filter((l) => l.startsWith('# TYPE '))
          .map((l) => l.split(' ')[2]!),
      );
      const alerts = readFileSync(repo('deploy/prometheus/alerts.yml'), 'utf8');
      const used = new Set(
        [...[alerts, ...dashboardExprs].join('\n').matchAll(/\bskillport_[a-z0-9_]+/g)].map((m) =>
          m[0].replace(/_(bucket|sum|count)$/, ''),
        ),
      );
      expect(used.size).toBeGreaterThanOrEqual(9);
      for (const name of used) expect(exposed, name).toContain(name);
    });

    it('counts credential use by kind for the token-use alert', async () => {
      const register = await fetch(`${server.baseUrl}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: 'm@example.com',
          username: 'metricsuser',
          password: 'pw-metrics-long-1',
        }),
      });
      const { access_token } = (await register.json()) as { access_token: string };
      for (let i = 0; i < 3; i++) {
        await fetch(`${server.baseUrl}/api/v1/users/me`, {
          headers: { authorization: `Bearer ${access_token}` },
        });
      }
      const text = await (
        await fetch(`${server.baseUrl}/metrics`, {
          headers: { authorization: 'Bearer metrics-token-0123456789' },
        })
      ).text();
      expect(text).toMatch(/skillport_credential_uses_total\{via="session"\} 3\b/);
    });
  });
});
