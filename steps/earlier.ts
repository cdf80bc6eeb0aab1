/** The resource a step needs from an earlier one; a clear error if the list in steps.ts is out of order. */
export function earlier<T>(value: T | undefined, step: string, needs: string): T {
  if (value === undefined) throw new Error(`step "${step}" needs step "${needs}" to come before it in steps.ts`);
  return value;
}
