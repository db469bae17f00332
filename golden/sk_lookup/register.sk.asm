sk_lookup: sk_lookup - section sk_lookup (212 insns)
; prologue: the lookup into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -96) = 0
  2: (7a) *(u64 *)(r10 -88) = 0
  3: (7a) *(u64 *)(r10 -80) = 0
  4: (7a) *(u64 *)(r10 -72) = 0
  5: (7a) *(u64 *)(r10 -64) = 0
  6: (7a) *(u64 *)(r10 -56) = 0
  7: (7a) *(u64 *)(r10 -48) = 0
  8: (7a) *(u64 *)(r10 -40) = 0
  9: (7a) *(u64 *)(r10 -32) = 0
 10: (7a) *(u64 *)(r10 -24) = 0
 11: (7a) *(u64 *)(r10 -16) = 0
 12: (7a) *(u64 *)(r10 -8) = 0
 13: (61) r1 = *(u32 *)(r6 +8)
 14: (15) if r1 == 0x2 goto pc+18
 15: (72) *(u8 *)(r10 -40) = 6
 16: (61) r1 = *(u32 *)(r6 +20)
 17: (63) *(u32 *)(r10 -76) = r1
 18: (61) r1 = *(u32 *)(r6 +44)
 19: (63) *(u32 *)(r10 -56) = r1
 20: (61) r1 = *(u32 *)(r6 +24)
 21: (63) *(u32 *)(r10 -72) = r1
 22: (61) r1 = *(u32 *)(r6 +48)
 23: (63) *(u32 *)(r10 -52) = r1
 24: (61) r1 = *(u32 *)(r6 +28)
 25: (63) *(u32 *)(r10 -68) = r1
 26: (61) r1 = *(u32 *)(r6 +52)
 27: (63) *(u32 *)(r10 -48) = r1
 28: (61) r1 = *(u32 *)(r6 +32)
 29: (63) *(u32 *)(r10 -64) = r1
 30: (61) r1 = *(u32 *)(r6 +56)
 31: (63) *(u32 *)(r10 -44) = r1
 32: (05) goto pc+5
 33: (72) *(u8 *)(r10 -40) = 4
 34: (61) r1 = *(u32 *)(r6 +16)
 35: (63) *(u32 *)(r10 -92) = r1
 36: (61) r1 = *(u32 *)(r6 +40)
 37: (63) *(u32 *)(r10 -84) = r1
 38: (61) r1 = *(u32 *)(r6 +12)
 39: (73) *(u8 *)(r10 -39) = r1
 40: (72) *(u8 *)(r10 -38) = 1
 41: (69) r1 = *(u16 *)(r6 +36)
 42: (dc) r1 = be16 r1
 43: (6b) *(u16 *)(r10 -36) = r1
 44: (61) r1 = *(u32 *)(r6 +60)
 45: (6b) *(u16 *)(r10 -34) = r1
; line 11: redirect 3.3.3.3:* to sock proxy
 46: (71) r1 = *(u8 *)(r10 -40)
 47: (55) if r1 != 0x4 goto pc+6
 48: (71) r1 = *(u8 *)(r10 -39)
 49: (55) if r1 != 0x6 goto pc+29
 50: (61) r1 = *(u32 *)(r10 -84)
 51: (56) if w1 != 0x3030303 goto pc+20
 52: (62) *(u32 *)(r10 -24) = 0
 53: (05) goto pc+58
; line 12: redirect [2001:db8::1]:443 to sock admin
 54: (71) r1 = *(u8 *)(r10 -39)
 55: (55) if r1 != 0x6 goto pc+32
 56: (61) r1 = *(u32 *)(r10 -56)
 57: (a4) w1 ^= -1207107296
 58: (61) r2 = *(u32 *)(r10 -52)
 59: (a4) w2 ^= 0
 60: (4c) w1 |= w2
 61: (61) r2 = *(u32 *)(r10 -48)
 62: (a4) w2 ^= 0
 63: (4c) w1 |= w2
 64: (61) r2 = *(u32 *)(r10 -44)
 65: (a4) w2 ^= 16777216
 66: (4c) w1 |= w2
 67: (56) if w1 != 0x0 goto pc+20
 68: (69) r1 = *(u16 *)(r10 -34)
 69: (55) if r1 != 0x1bb goto pc+18
 70: (62) *(u32 *)(r10 -24) = 1
 71: (05) goto pc+61
; line 13: redirect 4.4.4.0/24:9000 to sock dual
 72: (61) r1 = *(u32 *)(r10 -84)
 73: (54) w1 &= 16777215
 74: (56) if w1 != 0x40404 goto pc+13
 75: (69) r1 = *(u16 *)(r10 -34)
 76: (55) if r1 != 0x2328 goto pc+11
 77: (62) *(u32 *)(r10 -24) = 2
 78: (05) goto pc+75
; line 14: redirect 1.1.1.0/24:53 to sock dns
 79: (71) r1 = *(u8 *)(r10 -39)
 80: (55) if r1 != 0x11 goto pc+7
 81: (61) r1 = *(u32 *)(r10 -84)
 82: (54) w1 &= 16777215
 83: (56) if w1 != 0x10101 goto pc+4
 84: (69) r1 = *(u16 *)(r10 -34)
 85: (55) if r1 != 0x35 goto pc+2
 86: (62) *(u32 *)(r10 -24) = 3
 87: (05) goto pc+87
; line 15: default pass
 88: (62) *(u32 *)(r10 -24) = 4
 89: (b7) r9 = 1
 90: (61) r1 = *(u32 *)(r10 -24)
 91: (77) r1 >>= 8
 92: (63) *(u32 *)(r10 -104) = r1
 93: (18) r1 = map[counters]
 95: (bf) r2 = r10
 96: (07) r2 += -104
 97: (85) call bpf_map_lookup_elem#1
 98: (15) if r0 == 0x0 goto pc+11
 99: (61) r1 = *(u32 *)(r10 -24)
100: (57) r1 &= 255
101: (67) r1 <<= 4
102: (0f) r0 += r1
103: (79) r1 = *(u64 *)(r0 +0)
104: (07) r1 += 1
105: (7b) *(u64 *)(r0 +0) = r1
106: (79) r1 = *(u64 *)(r0 +8)
107: (61) r2 = *(u32 *)(r10 -28)
108: (0f) r1 += r2
109: (7b) *(u64 *)(r0 +8) = r1
110: (bf) r0 = r9
111: (95) exit
; redirect to socket sock0: its slot in the socket map
112: (62) *(u32 *)(r10 -20) = 0
113: (18) r1 = map[sockets]
115: (bf) r2 = r10
116: (07) r2 += -20
117: (85) call bpf_map_lookup_elem#1
118: (15) if r0 == 0x0 goto pc+12
119: (bf) r7 = r0
120: (bf) r1 = r6
121: (bf) r2 = r7
122: (b7) r3 = 0
123: (85) call bpf_sk_assign#124
124: (bf) r8 = r0
125: (bf) r1 = r7
126: (85) call bpf_sk_release#86
127: (b7) r9 = 1
128: (15) if r8 == 0x0 goto pc-39
129: (b7) r1 = 1
130: (05) goto pc+65
131: (b7) r1 = 0
132: (05) goto pc+63
; redirect to socket sock1: its slot in the socket map
133: (62) *(u32 *)(r10 -20) = 1
134: (18) r1 = map[sockets]
136: (bf) r2 = r10
137: (07) r2 += -20
138: (85) call bpf_map_lookup_elem#1
139: (15) if r0 == 0x0 goto pc+12
140: (bf) r7 = r0
141: (bf) r1 = r6
142: (bf) r2 = r7
143: (b7) r3 = 0
144: (85) call bpf_sk_assign#124
145: (bf) r8 = r0
146: (bf) r1 = r7
147: (85) call bpf_sk_release#86
148: (b7) r9 = 1
149: (15) if r8 == 0x0 goto pc-60
150: (b7) r1 = 3
151: (05) goto pc+44
152: (b7) r1 = 2
153: (05) goto pc+42
; redirect to socket sock2: its slot in the socket map
154: (62) *(u32 *)(r10 -20) = 2
155: (18) r1 = map[sockets]
157: (bf) r2 = r10
158: (07) r2 += -20
159: (85) call bpf_map_lookup_elem#1
160: (15) if r0 == 0x0 goto pc+12
161: (bf) r7 = r0
162: (bf) r1 = r6
163: (bf) r2 = r7
164: (b7) r3 = 0
165: (85) call bpf_sk_assign#124
166: (bf) r8 = r0
167: (bf) r1 = r7
168: (85) call bpf_sk_release#86
169: (b7) r9 = 1
170: (15) if r8 == 0x0 goto pc-81
171: (b7) r1 = 5
172: (05) goto pc+23
173: (b7) r1 = 4
174: (05) goto pc+21
; redirect to socket sock3: its slot in the socket map
175: (62) *(u32 *)(r10 -20) = 3
176: (18) r1 = map[sockets]
178: (bf) r2 = r10
179: (07) r2 += -20
180: (85) call bpf_map_lookup_elem#1
181: (15) if r0 == 0x0 goto pc+12
182: (bf) r7 = r0
183: (bf) r1 = r6
184: (bf) r2 = r7
185: (b7) r3 = 0
186: (85) call bpf_sk_assign#124
187: (bf) r8 = r0
188: (bf) r1 = r7
189: (85) call bpf_sk_release#86
190: (b7) r9 = 1
191: (15) if r8 == 0x0 goto pc-102
192: (b7) r1 = 7
193: (05) goto pc+2
194: (b7) r1 = 6
195: (05) goto pc+0
; redirect dropped: count it for the socket
196: (63) *(u32 *)(r10 -20) = r1
197: (18) r1 = map[socket_drops]
199: (bf) r2 = r10
200: (07) r2 += -20
201: (85) call bpf_map_lookup_elem#1
202: (15) if r0 == 0x0 goto pc+7
203: (79) r1 = *(u64 *)(r0 +0)
204: (07) r1 += 1
205: (7b) *(u64 *)(r0 +0) = r1
206: (79) r1 = *(u64 *)(r0 +8)
207: (61) r2 = *(u32 *)(r10 -28)
208: (0f) r1 += r2
209: (7b) *(u64 *)(r0 +8) = r1
210: (b7) r9 = 0
211: (05) goto pc-122

sklreg_proxy_se: sk_lookup register /sys/fs/cgroup/unified/proxy.service section sockops (111 insns)
; sk_lookup register: a socket of cgroup /sys/fs/cgroup/unified/proxy.service listening on a declared address goes into its slot
  0: (bf) r6 = r1
  1: (61) r1 = *(u32 *)(r6 +0)
  2: (15) if r1 == 0xb goto pc+2
  3: (b7) r0 = 1
  4: (95) exit
; the install's network namespace only
  5: (bf) r1 = r6
  6: (85) call bpf_get_netns_cookie#122
  7: (56) if w0 != 0x0 goto pc+3
  8: (77) r0 >>= 32
  9: (56) if w0 != 0x0 goto pc+1
 10: (05) goto pc+2
 11: (b7) r0 = 1
 12: (95) exit
 13: (61) r7 = *(u32 *)(r6 +20)
 14: (61) r8 = *(u32 *)(r6 +68)
; socket proxy: tcp 127.0.0.1:8080
 15: (55) if r8 != 0x1f90 goto pc+48
 16: (55) if r7 != 0x2 goto pc+3
 17: (61) r1 = *(u32 *)(r6 +28)
 18: (56) if w1 != 0x100007f goto pc+45
 19: (05) goto pc+9
 20: (55) if r7 != 0xa goto pc+43
 21: (61) r1 = *(u32 *)(r6 +48)
 22: (56) if w1 != 0x0 goto pc+41
 23: (61) r1 = *(u32 *)(r6 +52)
 24: (56) if w1 != 0x0 goto pc+39
 25: (61) r1 = *(u32 *)(r6 +56)
 26: (56) if w1 != 0xffff0000 goto pc+37
 27: (61) r1 = *(u32 *)(r6 +60)
 28: (56) if w1 != 0x100007f goto pc+35
 29: (62) *(u32 *)(r10 -20) = 0
 30: (bf) r1 = r6
 31: (18) r2 = map[sockets]
 33: (bf) r3 = r10
 34: (07) r3 += -20
 35: (b7) r4 = 0
 36: (85) call bpf_sock_map_update#53
 37: (62) *(u32 *)(r10 -28) = 0
 38: (55) if r0 != 0x0 goto pc+2
 39: (62) *(u32 *)(r10 -24) = 5
 40: (05) goto pc+1
 41: (62) *(u32 *)(r10 -24) = 6
 42: (61) r1 = *(u32 *)(r10 -24)
 43: (77) r1 >>= 8
 44: (63) *(u32 *)(r10 -104) = r1
 45: (18) r1 = map[counters]
 47: (bf) r2 = r10
 48: (07) r2 += -104
 49: (85) call bpf_map_lookup_elem#1
 50: (15) if r0 == 0x0 goto pc+11
 51: (61) r1 = *(u32 *)(r10 -24)
 52: (57) r1 &= 255
 53: (67) r1 <<= 4
 54: (0f) r0 += r1
 55: (79) r1 = *(u64 *)(r0 +0)
 56: (07) r1 += 1
 57: (7b) *(u64 *)(r0 +0) = r1
 58: (79) r1 = *(u64 *)(r0 +8)
 59: (61) r2 = *(u32 *)(r10 -28)
 60: (0f) r1 += r2
 61: (7b) *(u64 *)(r0 +8) = r1
 62: (b7) r0 = 1
 63: (95) exit
; socket admin: tcp ::1:8443
 64: (55) if r8 != 0x20fb goto pc+44
 65: (55) if r7 != 0xa goto pc+43
 66: (61) r1 = *(u32 *)(r6 +48)
 67: (56) if w1 != 0x0 goto pc+41
 68: (61) r1 = *(u32 *)(r6 +52)
 69: (56) if w1 != 0x0 goto pc+39
 70: (61) r1 = *(u32 *)(r6 +56)
 71: (56) if w1 != 0x0 goto pc+37
 72: (61) r1 = *(u32 *)(r6 +60)
 73: (56) if w1 != 0x1000000 goto pc+35
 74: (62) *(u32 *)(r10 -20) = 1
 75: (bf) r1 = r6
 76: (18) r2 = map[sockets]
 78: (bf) r3 = r10
 79: (07) r3 += -20
 80: (b7) r4 = 0
 81: (85) call bpf_sock_map_update#53
 82: (62) *(u32 *)(r10 -28) = 0
 83: (55) if r0 != 0x0 goto pc+2
 84: (62) *(u32 *)(r10 -24) = 5
 85: (05) goto pc+1
 86: (62) *(u32 *)(r10 -24) = 6
 87: (61) r1 = *(u32 *)(r10 -24)
 88: (77) r1 >>= 8
 89: (63) *(u32 *)(r10 -104) = r1
 90: (18) r1 = map[counters]
 92: (bf) r2 = r10
 93: (07) r2 += -104
 94: (85) call bpf_map_lookup_elem#1
 95: (15) if r0 == 0x0 goto pc+11
 96: (61) r1 = *(u32 *)(r10 -24)
 97: (57) r1 &= 255
 98: (67) r1 <<= 4
 99: (0f) r0 += r1
100: (79) r1 = *(u64 *)(r0 +0)
101: (07) r1 += 1
102: (7b) *(u64 *)(r0 +0) = r1
103: (79) r1 = *(u64 *)(r0 +8)
104: (61) r2 = *(u32 *)(r10 -28)
105: (0f) r1 += r2
106: (7b) *(u64 *)(r0 +8) = r1
107: (b7) r0 = 1
108: (95) exit
109: (b7) r0 = 1
110: (95) exit

sklreg_dual_ser: sk_lookup register /sys/fs/cgroup/unified/dual.service section sockops (62 insns)
; sk_lookup register: a socket of cgroup /sys/fs/cgroup/unified/dual.service listening on a declared address goes into its slot
  0: (bf) r6 = r1
  1: (61) r1 = *(u32 *)(r6 +0)
  2: (15) if r1 == 0xb goto pc+2
  3: (b7) r0 = 1
  4: (95) exit
; the install's network namespace only
  5: (bf) r1 = r6
  6: (85) call bpf_get_netns_cookie#122
  7: (56) if w0 != 0x0 goto pc+3
  8: (77) r0 >>= 32
  9: (56) if w0 != 0x0 goto pc+1
 10: (05) goto pc+2
 11: (b7) r0 = 1
 12: (95) exit
 13: (61) r7 = *(u32 *)(r6 +20)
 14: (61) r8 = *(u32 *)(r6 +68)
; socket dual: tcp :::9000
 15: (55) if r8 != 0x2328 goto pc+44
 16: (55) if r7 != 0xa goto pc+43
 17: (61) r1 = *(u32 *)(r6 +48)
 18: (56) if w1 != 0x0 goto pc+41
 19: (61) r1 = *(u32 *)(r6 +52)
 20: (56) if w1 != 0x0 goto pc+39
 21: (61) r1 = *(u32 *)(r6 +56)
 22: (56) if w1 != 0x0 goto pc+37
 23: (61) r1 = *(u32 *)(r6 +60)
 24: (56) if w1 != 0x0 goto pc+35
 25: (62) *(u32 *)(r10 -20) = 2
 26: (bf) r1 = r6
 27: (18) r2 = map[sockets]
 29: (bf) r3 = r10
 30: (07) r3 += -20
 31: (b7) r4 = 0
 32: (85) call bpf_sock_map_update#53
 33: (62) *(u32 *)(r10 -28) = 0
 34: (55) if r0 != 0x0 goto pc+2
 35: (62) *(u32 *)(r10 -24) = 7
 36: (05) goto pc+1
 37: (62) *(u32 *)(r10 -24) = 8
 38: (61) r1 = *(u32 *)(r10 -24)
 39: (77) r1 >>= 8
 40: (63) *(u32 *)(r10 -104) = r1
 41: (18) r1 = map[counters]
 43: (bf) r2 = r10
 44: (07) r2 += -104
 45: (85) call bpf_map_lookup_elem#1
 46: (15) if r0 == 0x0 goto pc+11
 47: (61) r1 = *(u32 *)(r10 -24)
 48: (57) r1 &= 255
 49: (67) r1 <<= 4
 50: (0f) r0 += r1
 51: (79) r1 = *(u64 *)(r0 +0)
 52: (07) r1 += 1
 53: (7b) *(u64 *)(r0 +0) = r1
 54: (79) r1 = *(u64 *)(r0 +8)
 55: (61) r2 = *(u32 *)(r10 -28)
 56: (0f) r1 += r2
 57: (7b) *(u64 *)(r0 +8) = r1
 58: (b7) r0 = 1
 59: (95) exit
 60: (b7) r0 = 1
 61: (95) exit

