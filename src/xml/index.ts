export { parseXml, type XmlElement } from './parse.js';
export { flatMatch, xmlMatch, clientConditions, isNegated, type Conditions, type MatchSubject } from './match.js';
