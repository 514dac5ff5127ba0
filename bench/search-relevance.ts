/**
 * Search relevance check (issue 14): `npx tsx bench/search-relevance.ts`.
 *
 * A labelled set: 20 realistic skills and 12 upstream tools, and 53 queries written the way users ask (some
 * with the documents' words, most in other words), each labelled with the documents that answer it. Reports
 * recall@5 (the share of a query's relevant documents among its first five results, averaged over queries) for
 * full-text search alone and for hybrid search, on embedded PGlite.
 *
 * The embeddings are the scripted ones the tests use (test/helpers/embeddings.ts) over the lexicon below: each
 * dimension a group of words that mean the same here. That is a synonym table, not a language model (no model
 * can be downloaded on this machine), so the hybrid figure shows what fusion does with a model that knows these
 * synonyms — that it keeps the full-text hits and adds the meaning matches — not how good any real model is.
 * Run it with a real endpoint by setting EMBEDDINGS_BASE_URL and EMBEDDINGS_MODEL (and EMBEDDINGS_API_KEY).
 */
import { openDatabase, tables } from '../src/db/index.js';
import { createLogger } from '../src/observability/logger.js';
import {
  embeddingsSettings,
  listSource,
  openAiCompatibleEmbedder,
  openSearch,
  SearchService,
  skillsSource,
  toolDocument,
} from '../src/search/index.js';
import type { Principal } from '../src/shared/principal.js';
import { DatabaseBlobStore, SkillsService } from '../src/skills/index.js';
import { scriptedEmbedder } from '../test/helpers/embeddings.js';

const LEXICON: string[][] = [
  ['pdf', 'pdfs', 'document', 'documents', 'paperwork', 'form', 'forms', 'fillable', 'acroform'],
  ['spreadsheet', 'spreadsheets', 'excel', 'xlsx', 'csv', 'workbook', 'cells', 'formulas', 'pivot'],
  ['git', 'github', 'repository', 'repo', 'commit', 'commits', 'branch', 'merge', 'pr', 'pull'],
  ['image', 'images', 'photo', 'photos', 'picture', 'pictures', 'png', 'jpeg', 'thumbnail', 'thumbnails'],
  ['email', 'emails', 'mail', 'inbox', 'gmail', 'newsletter', 'reply'],
  ['database', 'sql', 'postgres', 'postgresql', 'query', 'queries', 'table', 'tables'],
  ['weather', 'forecast', 'temperature', 'rain', 'umbrella', 'sunny'],
  ['translate', 'translation', 'language', 'languages', 'french', 'german', 'spanish', 'localise'],
  ['calendar', 'meeting', 'meetings', 'schedule', 'appointment', 'invite', 'availability'],
  ['chart', 'charts', 'graph', 'graphs', 'plot', 'visualise', 'visualize', 'dashboard'],
  ['slides', 'slide', 'presentation', 'deck', 'powerpoint', 'pptx', 'keynote'],
  ['word', 'docx', 'letter', 'memo', 'manuscript', 'tracked', 'redline'],
  ['test', 'tests', 'testing', 'unit', 'pytest', 'jest', 'coverage', 'flaky'],
  ['deploy', 'deployment', 'release', 'ship', 'kubernetes', 'k8s', 'helm', 'rollout'],
  ['log', 'logs', 'error', 'errors', 'stacktrace', 'crash', 'incident', 'outage'],
  ['invoice', 'invoices', 'payment', 'payments', 'billing', 'stripe', 'refund', 'charge'],
  ['ticket', 'tickets', 'issue', 'issues', 'jira', 'bug', 'bugs', 'backlog'],
  ['music', 'song', 'songs', 'audio', 'mp3', 'podcast', 'transcribe', 'transcript', 'speech'],
  ['web', 'website', 'scrape', 'crawl', 'browser', 'page', 'html', 'url'],
  ['brand', 'colours', 'colors', 'logo', 'typography', 'style', 'guidelines'],
  ['summary', 'summarise', 'summarize', 'tldr', 'digest', 'recap'],
  ['security', 'vulnerability', 'cve', 'audit', 'secrets', 'leak'],
];

const SKILLS: Array<[string, string]> = [
  ['pdf', 'Extract text and tables from PDF files, fill in PDF forms, merge and split documents.'],
  ['xlsx', 'Create and edit Excel spreadsheets with formulas, formatting and pivot tables.'],
  ['docx', 'Create and edit Word documents, with tracked changes and comments.'],
  ['pptx', 'Build PowerPoint presentations: layouts, speaker notes, charts on slides.'],
  ['git-workflow', 'Write commit messages, rebase branches and prepare pull requests on GitHub.'],
  ['image-tools', 'Resize, crop and convert photos; make thumbnails and strip metadata.'],
  ['email-drafter', 'Draft replies to emails in a clear, friendly tone and triage the inbox.'],
  ['sql-helper', 'Write and optimise PostgreSQL queries; explain query plans and indexes.'],
  ['translator', 'Translate text between languages while keeping formatting and tone.'],
  ['meeting-notes', 'Turn a meeting transcript into notes with decisions and action items.'],
  ['chart-maker', 'Plot data as line, bar and scatter charts and export them as PNG or SVG.'],
  ['test-writer', 'Write unit tests with pytest or jest and raise coverage of untested code.'],
  ['k8s-deploy', 'Deploy services to Kubernetes with Helm charts and watch the rollout.'],
  ['log-analyzer', 'Find the cause of errors in application logs and stack traces.'],
  ['brand-guidelines', 'Apply the company brand: colours, logo use and typography in documents.'],
  ['web-scraper', 'Fetch web pages and extract structured content from the HTML.'],
  ['podcast-transcriber', 'Transcribe audio recordings and podcasts into text with speakers.'],
  ['security-review', 'Review code for vulnerabilities and leaked secrets; check dependencies for CVEs.'],
  ['summarizer', 'Summarise long articles and reports into a short digest.'],
  ['invoice-processor', 'Read invoices, extract totals and due dates, and record payments.'],
];

const TOOLS: Array<[string, string, string[]]> = [
  [
    'github__create_pull_request',
    'Open a pull request from a branch.',
    ['owner', 'repo', 'head', 'base', 'title'],
  ],
  ['github__list_issues', 'List the issues of a repository.', ['owner', 'repo', 'state']],
  ['jira__create_ticket', 'Create a ticket in a Jira project.', ['project', 'summary', 'description']],
  ['slack__post_message', 'Post a message to a Slack channel.', ['channel', 'text']],
  ['gmail__send_email', 'Send an email from the connected Gmail account.', ['to', 'subject', 'body']],
  [
    'calendar__create_event',
    'Create a calendar event and invite attendees.',
    ['title', 'start', 'attendees'],
  ],
  ['weather__get_forecast', 'Get the weather forecast for a city.', ['city', 'days']],
  ['postgres__run_query', 'Run a read-only SQL query against the analytics database.', ['sql']],
  ['stripe__create_refund', 'Refund a Stripe charge, fully or in part.', ['charge', 'amount']],
  ['browser__fetch_page', 'Fetch a URL and return the page as markdown.', ['url']],
  ['drive__search_files', 'Search files in Google Drive by name or content.', ['query']],
  ['sentry__list_errors', 'List recent errors and crashes reported to Sentry.', ['project', 'since']],
];

/** Query → the names of the documents that answer it. */
const QUERIES: Array<[string, string[]]> = [
  ['fill a pdf form', ['pdf']],
  ['paperwork to complete', ['pdf']],
  ['merge two pdfs', ['pdf']],
  ['excel formulas', ['xlsx']],
  ['make a pivot table from a csv', ['xlsx']],
  ['workbook with formatted cells', ['xlsx']],
  ['edit a word document', ['docx']],
  ['redline a contract memo', ['docx']],
  ['build a slide deck', ['pptx']],
  ['keynote presentation for the board', ['pptx']],
  ['open a pull request', ['github__create_pull_request', 'git-workflow']],
  ['write a good commit message', ['git-workflow']],
  ['bugs in our repo', ['github__list_issues']],
  ['shrink photos for the website', ['image-tools']],
  ['make thumbnails', ['image-tools']],
  ['convert jpeg to png', ['image-tools']],
  ['answer my gmail', ['email-drafter', 'gmail__send_email']],
  ['send an email to the team', ['gmail__send_email']],
  ['speed up a slow sql query', ['sql-helper']],
  ['explain this postgres plan', ['sql-helper']],
  ['how many users signed up last week in the analytics database', ['postgres__run_query']],
  ['translate this into french', ['translator']],
  ['localise the app strings to german', ['translator']],
  ['notes from the meeting transcript', ['meeting-notes']],
  ['schedule a meeting with Ana', ['calendar__create_event']],
  ['invite people to an appointment', ['calendar__create_event']],
  ['plot revenue per month', ['chart-maker']],
  ['visualize the data as a graph', ['chart-maker']],
  ['dashboard for sales', ['chart-maker']],
  ['write pytest tests', ['test-writer']],
  ['our coverage is too low', ['test-writer']],
  ['flaky jest tests', ['test-writer']],
  ['ship the service to k8s', ['k8s-deploy']],
  ['helm rollout', ['k8s-deploy']],
  ['why did the app crash', ['log-analyzer', 'sentry__list_errors']],
  ['stacktrace in production logs', ['log-analyzer']],
  ['recent incidents reported', ['sentry__list_errors']],
  ['use the company logo and colors', ['brand-guidelines']],
  ['typography rules for our style', ['brand-guidelines']],
  ['scrape a website', ['web-scraper', 'browser__fetch_page']],
  ['get the html of a url', ['browser__fetch_page', 'web-scraper']],
  ['transcribe an mp3', ['podcast-transcriber']],
  ['speech to text for a podcast', ['podcast-transcriber']],
  ['check for leaked secrets', ['security-review']],
  ['is this dependency vulnerable to a cve', ['security-review']],
  ['tldr of this long report', ['summarizer']],
  ['recap the article', ['summarizer']],
  ['record a payment for an invoice', ['invoice-processor']],
  ['refund a customer charge', ['stripe__create_refund']],
  ['create a jira ticket for this bug', ['jira__create_ticket']],
  ['post to the slack channel', ['slack__post_message']],
  ['will it rain tomorrow in Lisbon', ['weather__get_forecast']],
  ['find the budget spreadsheet in drive', ['drive__search_files', 'xlsx']],
];

const handle = await openDatabase({});
try {
  const [row] = await handle.db
    .insert(tables.users)
    .values({ email: 'relevance@example.com', username: 'relevance', passwordHash: 'x' })
    .returning();
  const user: Principal = { userId: row!.id, isAdmin: false, via: 'session', scopes: ['api', 'mcp'] };
  const skills = new SkillsService(handle.db, new DatabaseBlobStore());
  for (const [name, description] of SKILLS) {
    const md = `---\nname: ${name}\ndescription: ${JSON.stringify(description)}\n---\n# ${name}\n\n${description}\n`;
    await skills.create(
      user,
      {
        rootFolder: null,
        files: [{ path: 'SKILL.md', data: Buffer.from(md), executable: false }],
        skipped: [],
      },
      null,
    );
  }
  const tools = TOOLS.map(([name, description, params]) =>
    toolDocument({
      ownerId: user.userId,
      name,
      description,
      inputSchema: { properties: Object.fromEntries(params.map((p) => [p, {}])) },
    }),
  );
  const settings = embeddingsSettings(process.env);
  const embedder = settings ? openAiCompatibleEmbedder(settings) : scriptedEmbedder('lexicon', LEXICON);
  const room = await openSearch({
    db: handle,
    sources: [
      skillsSource(skills),
      listSource(
        'tool',
        () => tools,
        () => () => undefined,
      ),
    ],
    embedder,
    logger: createLogger('silent'),
    worker: false,
  });
  await room.queue.drain();
  const callableTools = TOOLS.map(([name]) => name);
  const fullText = new SearchService(handle.db, null, false);
  const recall = async (service: SearchService) => {
    let sum = 0;
    const misses: string[] = [];
    for (const [text, relevant] of QUERIES) {
      const answer = await service.search(user, { text, limit: 5, kinds: ['skill', 'tool'], callableTools });
      const found = relevant.filter((r) => answer.results.some((h) => h.name === r)).length;
      sum += found / relevant.length;
      if (found < relevant.length) misses.push(text);
    }
    return { recall: sum / QUERIES.length, misses };
  };
  const ft = await recall(fullText);
  const hy = await recall(room.service);
  console.log(
    `${SKILLS.length} skills + ${TOOLS.length} tools, ${QUERIES.length} labelled queries; embeddings: ${embedder.model}`,
  );
  console.log(`recall@5 full text: ${ft.recall.toFixed(3)}  (${ft.misses.length} queries miss something)`);
  console.log(`recall@5 hybrid:    ${hy.recall.toFixed(3)}  (${hy.misses.length} queries miss something)`);
  console.log(`hybrid misses: ${hy.misses.join(' | ') || 'none'}`);
  await room.close();
} finally {
  await handle.close();
}
