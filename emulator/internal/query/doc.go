// Package query is the emulator's engine for the IoT Hub query language, the
// SQL-like language of POST /devices/query over device twins ("FROM devices")
// and module twins ("FROM devices.modules"). It is pure Go and does no I/O:
// the emulator parses the request's query with Parse, picks the collection by
// Query.Source, and asks an Engine for one page at a time over a key-ordered
// Store.
//
// # Language
//
//	SELECT [TOP n] * | item [, item]…
//	FROM devices | devices.modules
//	[WHERE condition]
//	[GROUP BY path [, path]…]
//
// An item is a property path (deviceId, tags.location.region,
// properties.reported.$version, tags['some key'], arr[0]) or an aggregate
// COUNT(), SUM(path), AVG(path), MIN(path), MAX(path), each with an optional
// "AS alias". Conditions use = != <> < <= > >=, AND OR NOT, IN [..] and
// NIN [..], + - * / %, parentheses, the literals true, false, null,
// undefined, numbers (decimal and 0x hexadecimal) and strings in single or
// double quotes (escapes \' \" \\ \uXXXX and the JSON ones), and the
// functions IS_DEFINED, IS_NULL, IS_BOOL, IS_NUMBER, IS_STRING, IS_OBJECT,
// IS_ARRAY, IS_PRIMITIVE, STARTSWITH / STARTS_WITH, ENDSWITH / ENDS_WITH,
// CONTAINS, LOWER, UPPER, LENGTH, TRIM, LTRIM, RTRIM, CONCAT, SUBSTRING,
// INDEX_OF, AS_NUMBER, ABS, CEILING, FLOOR. Keywords and function names are
// case-insensitive; so are property names, as in the hub ("SELECT DeviceId"
// returns "deviceId"). A path may be qualified by its collection
// (devices.deviceId, devices.modules.moduleId).
//
// # Semantics
//
// Evaluation follows the hub's Cosmos DB-derived, three-valued logic. A
// missing property is undefined (not null). Comparisons are typed: only two
// numbers, two strings, two Booleans or two nulls compare; any other pair —
// including anything against undefined, objects and arrays — is undefined,
// so neither "=" nor "!=" matches ("fw != '1.0'" does not match a device
// whose fw is the number 1 or is missing). AND is false if either side is
// false, true if both are true, otherwise undefined; OR dually; NOT
// undefined is undefined, so "NOT (x = 1)" does not match devices without x
// (use NOT IS_DEFINED(x) OR x != 1). x IN [a, b] behaves as x = a OR x = b
// and NIN as NOT IN. A document matches only if the condition is Boolean
// true. Functions given arguments of the wrong type return undefined.
//
// A property that is undefined in a document is left out of its projected
// row. Unaliased aggregates are named $1, $2, … in SELECT order (as Cosmos
// DB does), so "SELECT COUNT() FROM devices" returns [{"$1": n}]. A query
// with aggregates but without GROUP BY returns one row even over no
// documents. GROUP BY rows are ordered by their group values: undefined,
// null, Booleans, numbers (numerically), strings (by code point), then
// arrays and objects; documents lacking a GROUP BY path form their own group,
// whose row omits that property. As documented for the hub, GROUP BY is
// supported only on devices, and SELECT * cannot be grouped.
//
// # Limits
//
// Queries longer than MaxQueryLength (8192) characters, or nested deeper
// than MaxDepth, are rejected with a *SyntaxError, as is every other
// problem with the text; its Error gives the line, column and byte offset.
// Pages hold DefaultPageSize (100) rows unless asked otherwise, at most
// MaxPageSize (1000).
//
// # Continuation tokens
//
// Tokens are opaque, unpadded base64url strings carrying the resume point and
// the number of rows returned so far, authenticated with an HMAC keyed by
// the Engine's secret and bound to the query text. A tampered, truncated or
// foreign token (another query, another engine) yields an error wrapping
// ErrBadContinuation, never a restart from the beginning.
package query
