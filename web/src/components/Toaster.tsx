import { useEffect, useState } from 'react';

/**
 * Transient status messages ("Token revoked"), announced politely to screen readers. The live region is
 * always mounted so announcements are not lost.
 */

interface Toast {
  id: number;
  text: string;
  kind: 'success' | 'info' | 'error';
}

let seq = 0;
let toasts: Toast[] = [];
const listeners = new Set<(t: Toast[]) => void>();

function set(next: Toast[]) {
  toasts = next;
  listeners.forEach((fn) => fn(toasts));
}

export function toast(text: string, kind: Toast['kind'] = 'success') {
  const t = { id: ++seq, text, kind };
  set([...toasts.slice(-2), t]);
  setTimeout(() => set(toasts.filter((x) => x.id !== t.id)), 5000);
}

export function Toaster() {
  const [items, setItems] = useState(toasts);
  useEffect(() => {
    listeners.add(setItems);
    return () => {
      listeners.delete(setItems);
    };
  }, []);
  return (
    <div className="toaster" role="status" aria-live="polite" aria-atomic="false">
      {items.map((t) => (
        <div key={t.id} className={`toast toast-${t.kind}`}>
          {t.text}
        </div>
      ))}
    </div>
  );
}
