/**
 * `/mcp` answers streamed as SSE (a subscriptions/listen stream, or a call upgraded to SSE), each kept with the
 * credential it was opened with: such a stream outlives its request's credential check, so revoking the token or
 * disabling the user must end it, as for the legacy `/sse` sessions.
 */
import type { Logger } from '../observability/index.js';
import type { CredentialCheck } from './caller.js';

interface TrackedStream {
  userId: string;
  authorization: string;
  /** The MCP resource the credential was presented for (OAuth tokens are bound to it). */
  resource: string;
  close(): Promise<void>;
}

export class TrackedStreams {
  private readonly open = new Set<TrackedStream>();

  constructor(private readonly logger: Logger) {}

  /**
   * The response, re-wrapped so that this set can end it; `ended` settles when the stream is over (its access-log
   * line can only be written then: a 2025 call answered as a stream carries its tool call in it).
   */
  track(
    response: Response,
    userId: string,
    authorization: string,
    resource: string,
  ): { response: Response; ended: Promise<void> } {
    const reader = response.body!.getReader();
    const streams = this.open;
    let entry: TrackedStream;
    let markEnded!: () => void;
    const ended = new Promise<void>((resolve) => (markEnded = resolve));
    const finish = () => {
      streams.delete(entry);
      markEnded();
    };
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        entry = {
          userId,
          authorization,
          resource,
          close: async () => {
            finish();
            // Cancelling the SDK's side tears the subscription down there; closing ours ends the response.
            await reader.cancel('credentials no longer valid').catch(() => undefined);
            try {
              controller.close();
            } catch {
              // already closed or errored
            }
          },
        };
        streams.add(entry);
      },
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            finish();
            controller.close();
          } else controller.enqueue(value);
        } catch (err) {
          finish();
          controller.error(err);
        }
      },
      cancel(reason) {
        finish();
        return reader.cancel(reason);
      },
    });
    return { response: new Response(body, { status: response.status, headers: response.headers }), ended };
  }

  /** Ends the streams (of `userId`, or everyone's) whose opening credential no longer authenticates. */
  async closeInvalid(stillValid: CredentialCheck, userId?: string): Promise<void> {
    for (const s of [...this.open]) {
      if (userId && s.userId !== userId) continue;
      if (!(await stillValid(s))) {
        this.logger.info({ user: s.userId }, 'mcp stream closed: credentials no longer valid');
        await s.close();
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.open].map((s) => s.close()));
  }
}
