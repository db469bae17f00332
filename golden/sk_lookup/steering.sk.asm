sk_lookup: sk_lookup - section sk_lookup (253 insns)
; prologue: the lookup into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -80) = 0
  2: (7a) *(u64 *)(r10 -72) = 0
  3: (7a) *(u64 *)(r10 -64) = 0
  4: (7a) *(u64 *)(r10 -56) = 0
  5: (7a) *(u64 *)(r10 -48) = 0
  6: (7a) *(u64 *)(r10 -40) = 0
  7: (7a) *(u64 *)(r10 -32) = 0
  8: (7a) *(u64 *)(r10 -24) = 0
  9: (7a) *(u64 *)(r10 -16) = 0
 10: (7a) *(u64 *)(r10 -8) = 0
 11: (62) *(u32 *)(r10 -80) = 32
 12: (62) *(u32 *)(r10 -72) = 32
 13: (62) *(u32 *)(r10 -64) = 128
 14: (62) *(u32 *)(r10 -44) = 128
 15: (61) r1 = *(u32 *)(r6 +8)
 16: (15) if r1 == 0x2 goto pc+18
 17: (72) *(u8 *)(r10 -24) = 6
 18: (61) r1 = *(u32 *)(r6 +20)
 19: (63) *(u32 *)(r10 -60) = r1
 20: (61) r1 = *(u32 *)(r6 +44)
 21: (63) *(u32 *)(r10 -40) = r1
 22: (61) r1 = *(u32 *)(r6 +24)
 23: (63) *(u32 *)(r10 -56) = r1
 24: (61) r1 = *(u32 *)(r6 +48)
 25: (63) *(u32 *)(r10 -36) = r1
 26: (61) r1 = *(u32 *)(r6 +28)
 27: (63) *(u32 *)(r10 -52) = r1
 28: (61) r1 = *(u32 *)(r6 +52)
 29: (63) *(u32 *)(r10 -32) = r1
 30: (61) r1 = *(u32 *)(r6 +32)
 31: (63) *(u32 *)(r10 -48) = r1
 32: (61) r1 = *(u32 *)(r6 +56)
 33: (63) *(u32 *)(r10 -28) = r1
 34: (05) goto pc+5
 35: (72) *(u8 *)(r10 -24) = 4
 36: (61) r1 = *(u32 *)(r6 +16)
 37: (63) *(u32 *)(r10 -76) = r1
 38: (61) r1 = *(u32 *)(r6 +40)
 39: (63) *(u32 *)(r10 -68) = r1
 40: (61) r1 = *(u32 *)(r6 +12)
 41: (73) *(u8 *)(r10 -23) = r1
 42: (72) *(u8 *)(r10 -22) = 1
 43: (69) r1 = *(u16 *)(r6 +36)
 44: (dc) r1 = be16 r1
 45: (6b) *(u16 *)(r10 -20) = r1
 46: (61) r1 = *(u32 *)(r6 +60)
 47: (6b) *(u16 *)(r10 -18) = r1
; line 11: drop from @blocked
 48: (71) r1 = *(u8 *)(r10 -24)
 49: (55) if r1 != 0x4 goto pc+7
 50: (18) r1 = map[set_blocked_v4]
 52: (bf) r2 = r10
 53: (07) r2 += -80
 54: (85) call bpf_map_lookup_elem#1
 55: (15) if r0 == 0x0 goto pc+10
 56: (05) goto pc+6
 57: (18) r1 = map[set_blocked_v6]
 59: (bf) r2 = r10
 60: (07) r2 += -64
 61: (85) call bpf_map_lookup_elem#1
 62: (15) if r0 == 0x0 goto pc+3
 63: (62) *(u32 *)(r10 -8) = 0
 64: (b7) r9 = 0
 65: (05) goto pc+72
; line 12: count tcp to 3.3.3.0/24
 66: (71) r1 = *(u8 *)(r10 -24)
 67: (55) if r1 != 0x4 goto pc+32
 68: (71) r1 = *(u8 *)(r10 -23)
 69: (55) if r1 != 0x6 goto pc+21
 70: (61) r1 = *(u32 *)(r10 -68)
 71: (54) w1 &= 16777215
 72: (56) if w1 != 0x30303 goto pc+43
 73: (62) *(u32 *)(r10 -8) = 1
 74: (18) r1 = map[counters]
 76: (bf) r2 = r10
 77: (07) r2 += -8
 78: (85) call bpf_map_lookup_elem#1
 79: (15) if r0 == 0x0 goto pc+7
 80: (79) r1 = *(u64 *)(r0 +0)
 81: (07) r1 += 1
 82: (7b) *(u64 *)(r0 +0) = r1
 83: (79) r1 = *(u64 *)(r0 +8)
 84: (61) r2 = *(u32 *)(r10 -12)
 85: (0f) r1 += r2
 86: (7b) *(u64 *)(r0 +8) = r1
; line 13: redirect 3.3.3.3:* to sock proxy
 87: (61) r1 = *(u32 *)(r10 -68)
 88: (56) if w1 != 0x3030303 goto pc+37
 89: (62) *(u32 *)(r10 -8) = 2
 90: (05) goto pc+62
; line 14: redirect 1.1.1.0/24:53 to sock dns
 91: (71) r1 = *(u8 *)(r10 -23)
 92: (55) if r1 != 0x11 goto pc+43
 93: (61) r1 = *(u32 *)(r10 -68)
 94: (54) w1 &= 16777215
 95: (56) if w1 != 0x10101 goto pc+40
 96: (69) r1 = *(u16 *)(r10 -18)
 97: (55) if r1 != 0x35 goto pc+38
 98: (62) *(u32 *)(r10 -8) = 3
 99: (05) goto pc+74
; line 15: redirect [2001:db8::/64]:@webports to sock web6
100: (71) r1 = *(u8 *)(r10 -23)
101: (55) if r1 != 0x6 goto pc+34
102: (61) r1 = *(u32 *)(r10 -40)
103: (a4) w1 ^= -1207107296
104: (61) r2 = *(u32 *)(r10 -36)
105: (a4) w2 ^= 0
106: (4c) w1 |= w2
107: (56) if w1 != 0x0 goto pc+28
108: (69) r1 = *(u16 *)(r10 -18)
109: (15) if r1 == 0x50 goto pc+4
110: (15) if r1 == 0x1bb goto pc+3
111: (a5) if r1 < 0x1f40 goto pc+24
112: (b5) if r1 <= 0x2327 goto pc+1
113: (05) goto pc+22
114: (62) *(u32 *)(r10 -8) = 4
115: (05) goto pc+79
; line 16: redirect from 10.0.0.0/8 to 4.4.4.4:9000-9099 to sock dual
116: (61) r1 = *(u32 *)(r10 -76)
117: (54) w1 &= 255
118: (56) if w1 != 0xa goto pc+17
119: (61) r1 = *(u32 *)(r10 -68)
120: (56) if w1 != 0x4040404 goto pc+15
121: (69) r1 = *(u16 *)(r10 -18)
122: (a5) if r1 < 0x2328 goto pc+13
123: (25) if r1 > 0x238b goto pc+12
124: (62) *(u32 *)(r10 -8) = 5
125: (05) goto pc+90
; line 17: pass tcp to 3.3.3.4:22
126: (61) r1 = *(u32 *)(r10 -68)
127: (56) if w1 != 0x4030303 goto pc+5
128: (69) r1 = *(u16 *)(r10 -18)
129: (55) if r1 != 0x16 goto pc+3
130: (62) *(u32 *)(r10 -8) = 6
131: (b7) r9 = 1
132: (05) goto pc+5
; line 18: drop tcp to 3.3.3.0/24
133: (62) *(u32 *)(r10 -8) = 7
134: (b7) r9 = 0
135: (05) goto pc+2
; line 19: default pass
136: (62) *(u32 *)(r10 -8) = 8
137: (b7) r9 = 1
138: (18) r1 = map[counters]
140: (bf) r2 = r10
141: (07) r2 += -8
142: (85) call bpf_map_lookup_elem#1
143: (15) if r0 == 0x0 goto pc+7
144: (79) r1 = *(u64 *)(r0 +0)
145: (07) r1 += 1
146: (7b) *(u64 *)(r0 +0) = r1
147: (79) r1 = *(u64 *)(r0 +8)
148: (61) r2 = *(u32 *)(r10 -12)
149: (0f) r1 += r2
150: (7b) *(u64 *)(r0 +8) = r1
151: (bf) r0 = r9
152: (95) exit
; redirect to socket sock0: its slot in the socket map
153: (62) *(u32 *)(r10 -4) = 0
154: (18) r1 = map[sockets]
156: (bf) r2 = r10
157: (07) r2 += -4
158: (85) call bpf_map_lookup_elem#1
159: (15) if r0 == 0x0 goto pc+12
160: (bf) r7 = r0
161: (bf) r1 = r6
162: (bf) r2 = r7
163: (b7) r3 = 0
164: (85) call bpf_sk_assign#124
165: (bf) r8 = r0
166: (bf) r1 = r7
167: (85) call bpf_sk_release#86
168: (b7) r9 = 1
169: (15) if r8 == 0x0 goto pc-32
170: (b7) r1 = 1
171: (05) goto pc+65
172: (b7) r1 = 0
173: (05) goto pc+63
; redirect to socket sock1: its slot in the socket map
174: (62) *(u32 *)(r10 -4) = 1
175: (18) r1 = map[sockets]
177: (bf) r2 = r10
178: (07) r2 += -4
179: (85) call bpf_map_lookup_elem#1
180: (15) if r0 == 0x0 goto pc+12
181: (bf) r7 = r0
182: (bf) r1 = r6
183: (bf) r2 = r7
184: (b7) r3 = 0
185: (85) call bpf_sk_assign#124
186: (bf) r8 = r0
187: (bf) r1 = r7
188: (85) call bpf_sk_release#86
189: (b7) r9 = 1
190: (15) if r8 == 0x0 goto pc-53
191: (b7) r1 = 3
192: (05) goto pc+44
193: (b7) r1 = 2
194: (05) goto pc+42
; redirect to socket sock2: its slot in the socket map
195: (62) *(u32 *)(r10 -4) = 2
196: (18) r1 = map[sockets]
198: (bf) r2 = r10
199: (07) r2 += -4
200: (85) call bpf_map_lookup_elem#1
201: (15) if r0 == 0x0 goto pc+12
202: (bf) r7 = r0
203: (bf) r1 = r6
204: (bf) r2 = r7
205: (b7) r3 = 0
206: (85) call bpf_sk_assign#124
207: (bf) r8 = r0
208: (bf) r1 = r7
209: (85) call bpf_sk_release#86
210: (b7) r9 = 1
211: (15) if r8 == 0x0 goto pc-74
212: (b7) r1 = 5
213: (05) goto pc+23
214: (b7) r1 = 4
215: (05) goto pc+21
; redirect to socket sock3: its slot in the socket map
216: (62) *(u32 *)(r10 -4) = 3
217: (18) r1 = map[sockets]
219: (bf) r2 = r10
220: (07) r2 += -4
221: (85) call bpf_map_lookup_elem#1
222: (15) if r0 == 0x0 goto pc+12
223: (bf) r7 = r0
224: (bf) r1 = r6
225: (bf) r2 = r7
226: (b7) r3 = 0
227: (85) call bpf_sk_assign#124
228: (bf) r8 = r0
229: (bf) r1 = r7
230: (85) call bpf_sk_release#86
231: (b7) r9 = 1
232: (15) if r8 == 0x0 goto pc-95
233: (b7) r1 = 7
234: (05) goto pc+2
235: (b7) r1 = 6
236: (05) goto pc+0
; redirect dropped: count it for the socket
237: (63) *(u32 *)(r10 -4) = r1
238: (18) r1 = map[socket_drops]
240: (bf) r2 = r10
241: (07) r2 += -4
242: (85) call bpf_map_lookup_elem#1
243: (15) if r0 == 0x0 goto pc+7
244: (79) r1 = *(u64 *)(r0 +0)
245: (07) r1 += 1
246: (7b) *(u64 *)(r0 +0) = r1
247: (79) r1 = *(u64 *)(r0 +8)
248: (61) r2 = *(u32 *)(r10 -12)
249: (0f) r1 += r2
250: (7b) *(u64 *)(r0 +8) = r1
251: (b7) r9 = 0
252: (05) goto pc-115

